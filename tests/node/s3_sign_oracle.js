// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
//
// Signing oracle for tests/integration/test_s3_sign.cpp: computes the Authorization header that
// the AWS SDK for JavaScript v3 would send, with its own signer (@smithy/signature-v4 and
// @aws-crypto/sha256-js, configured as @aws-sdk/client-s3 configures it: service "s3",
// uriEscapePath false, applyChecksum false), for requests described by the C++ test.
// Input: one JSON object per line on stdin. Output: first a line {"versions": {...}}, then one
// line {"id": n, "authorization": "..."} (or {"id": n, "error": "..."}) per input line, in
// order. Reads all input before writing anything, so the parent can write everything and then
// read.
//
// Input line: {id, method, host, path (decoded, e.g. "/bucket/a b"), query: [[name, value],
//   ...] (decoded; "" for a value-less parameter), headers: [[name, value], ...] (as sent by
//   asio-oss, without Authorization), region, time (Unix seconds), access_key_id,
//   access_key_secret, session_token ("" for none)}
//
// The path is encoded here, independently of asio-oss, the way @aws-sdk/client-s3 encodes a
// greedy key label: each '/'-separated segment with encodeURIComponent plus !'()* escaped
// (smithy's escapeUri). With uriEscapePath false the signer uses that path verbatim, as S3
// clients do. A repeated query name becomes an array, which the signer sorts by value.

'use strict';

const { SignatureV4 } = require('@smithy/signature-v4');
const { Sha256 } = require('@aws-crypto/sha256-js');

const versions = {
  '@smithy/signature-v4': require('@smithy/signature-v4/package.json').version,
  '@aws-crypto/sha256-js': require('@aws-crypto/sha256-js/package.json').version,
};

function escapeUri(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, c => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function encodePath(path) {
  return path.split('/').map(escapeUri).join('/');
}

async function sign(req) {
  const query = {};
  for (const [name, value] of req.query || []) {
    if (!Object.prototype.hasOwnProperty.call(query, name)) query[name] = value;
    else if (Array.isArray(query[name])) query[name].push(value);
    else query[name] = [query[name], value];
  }
  const headers = {};
  for (const [name, value] of req.headers || []) {
    if (Object.prototype.hasOwnProperty.call(headers, name)) throw new Error(`repeated header ${name}`);
    headers[name] = value;
  }
  const signer = new SignatureV4({
    service: 's3',
    region: req.region,
    sha256: Sha256,
    uriEscapePath: false,
    applyChecksum: false,
    credentials: {
      accessKeyId: req.access_key_id,
      secretAccessKey: req.access_key_secret,
      sessionToken: req.session_token || undefined,
    },
  });
  const request = {
    method: req.method,
    protocol: 'https:',
    hostname: req.host,
    path: encodePath(req.path),
    query,
    headers,
  };
  const signed = await signer.sign(request, { signingDate: new Date(req.time * 1000) });
  return signed.headers.authorization;
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const out = [JSON.stringify({ versions })];
  for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
    if (line.trim() === '') continue;
    let id = null;
    try {
      const req = JSON.parse(line);
      id = req.id;
      out.push(JSON.stringify({ id, authorization: await sign(req) }));
    } catch (err) {
      // The message names the failing step only; it never contains the request's secret.
      out.push(JSON.stringify({ id, error: String(err && err.message) }));
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

main().catch(err => {
  process.stderr.write(`s3_sign_oracle: ${err && err.message}\n`);
  process.exit(1);
});
