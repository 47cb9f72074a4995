// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
//
// Runs the real s3rver (npm s3rver 3.7.1, an S3 emulator on the local filesystem) for the tests
// (tests/support/s3rver.hpp):
//
//   node s3rver_run.js DIRECTORY [BUCKET...] [--verbose]
//
// Listens on 127.0.0.1 on a port the system picks, stores everything under DIRECTORY, creates
// the named buckets, then prints one line with the port number on stdout. Exits (status 0)
// when its stdin reaches end of file (the parent died or closed it) or on SIGTERM/SIGINT.
// --verbose: s3rver's request log on stderr.
//
// What s3rver 3.7.1 checks of a SigV4 request (lib/middleware/authentication.js): the
// Authorization header has Credential, SignedHeaders and Signature; the access key id is known
// (S3RVER, secret S3RVER); x-amz-content-sha256 is present and well-formed; x-amz-date (or
// Date) is within 15 minutes of its clock. It does NOT recompute V4 signatures ("Signature
// version 4 calculation is unimplemented"), so a wrong secret is accepted, and it verifies no
// payload hash. It lacks ListParts and AbortMultipartUpload.

'use strict';

const fs = require('fs');
const S3rver = require('s3rver');

function usage(message) {
  process.stderr.write(`s3rver_run: ${message}\nusage: node s3rver_run.js DIRECTORY [BUCKET...] [--verbose]\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
const verbose = args.includes('--verbose');
const positional = args.filter(a => a !== '--verbose');
if (positional.length < 1) usage('missing DIRECTORY');
const [directory, ...buckets] = positional;
fs.mkdirSync(directory, { recursive: true });

const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: !verbose,
  directory,
  // Path-style only: a Host such as 127.0.0.1:port must never be taken for a bucket name.
  vhostBuckets: false,
  configureBuckets: buckets.map(name => ({ name })),
});

let stopping = false;
function stop(status) {
  if (stopping) return;
  stopping = true;
  // Keep-alive connections would hold close() open: exit after a short grace period anyway.
  const timer = setTimeout(() => process.exit(status), 2000);
  timer.unref();
  if (server.httpServer) {
    server.httpServer.closeAllConnections?.();
    server.close().then(
      () => process.exit(status),
      () => process.exit(status),
    );
  } else {
    process.exit(status);
  }
}

process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));
process.stdin.on('end', () => stop(0));
process.stdin.on('error', () => stop(0));
process.stdin.resume();

server.run().then(
  address => {
    process.stdout.write(`${address.port}\n`);
  },
  err => {
    process.stderr.write(`s3rver_run: cannot start s3rver: ${err && err.message}\n`);
    process.exit(1);
  },
);
