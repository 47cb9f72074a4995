'use strict';
// Drives the real ali-oss client against an OSS endpoint (our oss-local-server in the tests).
// Input: one JSON object on stdin. Output: one JSON object on stdout describing what happened,
// for the C++ test to assert on. Scenarios:
//   "upload":  multipartUpload with checkpoint + progress, then get + head of the object
//   "resume":  multipartUpload cancelled after `cancelAfterParts` parts, then resumed from the
//              checkpoint ali-oss handed to the progress callback
//   "put":     a single put of a small file
const fs = require('fs');
const crypto = require('crypto');
const OSS = require('ali-oss');

function readStdin() {
  return new Promise((resolve, reject) => {
    let text = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => { text += chunk; });
    process.stdin.on('end', () => resolve(text));
    process.stdin.on('error', reject);
  });
}

function md5(buffer) {
  return crypto.createHash('md5').update(buffer).digest('hex');
}

function describeError(err) {
  // Never echo credentials: only the fields a test needs.
  return { ok: false, name: err.name, code: err.code, status: err.status, requestId: err.requestId };
}

async function readBack(client, name, file) {
  const got = await client.get(name);
  const head = await client.head(name);
  const local = fs.readFileSync(file);
  return {
    bytesEqual: Buffer.compare(got.content, local) === 0,
    size: got.content.length,
    md5: md5(got.content),
    etag: head.res.headers.etag,
    crc64: head.res.headers['x-oss-hash-crc64ecma'],
    objectType: head.res.headers['x-oss-object-type'],
    contentType: head.res.headers['content-type'],
    meta: head.meta,
  };
}

async function upload(client, cfg) {
  const progress = [];
  let checkpoints = 0;
  const result = await client.multipartUpload(cfg.name, cfg.file, {
    parallel: cfg.parallel,
    partSize: cfg.partSize,
    meta: cfg.meta,
    mime: cfg.mime,
    headers: cfg.headers,
    progress: async (p, checkpoint) => {
      progress.push(p);
      if (checkpoint && checkpoint.uploadId) checkpoints += 1;
    },
  });
  const back = await readBack(client, cfg.name, cfg.file);
  return { ok: true, etag: result.etag || (result.res && result.res.headers.etag), progress, checkpoints, ...back };
}

async function resume(client, cfg) {
  let saved = null;
  let partsSeen = 0;
  let firstError = null;
  // ali-oss's cancel flag is the client's, and parts of a cancelled run still in flight keep
  // calling this progress callback (oss-protocol.md 7.4-7.5): once the first run is over, a
  // late callback must neither cancel the resume nor replace the checkpoint it started from.
  let firstRunOver = false;
  try {
    await client.multipartUpload(cfg.name, cfg.file, {
      parallel: cfg.parallel,
      partSize: cfg.partSize,
      progress: async (p, checkpoint) => {
        if (!checkpoint || firstRunOver) return;
        saved = JSON.parse(JSON.stringify(checkpoint));  // what a real program writes to disk
        if (checkpoint.doneParts.length >= cfg.cancelAfterParts) {
          partsSeen = checkpoint.doneParts.length;
          client.cancel();
        }
      },
    });
  } catch (err) {
    firstError = err.name;
  }
  firstRunOver = true;
  if (!saved) return { ok: false, name: 'NoCheckpoint', firstError };
  const donePartsBefore = saved.doneParts.length;
  const result = await client.multipartUpload(cfg.name, cfg.file, {
    parallel: cfg.parallel,
    partSize: cfg.partSize,
    checkpoint: saved,
  });
  const back = await readBack(client, cfg.name, cfg.file);
  return { ok: true, firstError, partsSeen, donePartsBefore, etag: result.res && result.res.headers.etag, ...back };
}

async function put(client, cfg) {
  await client.put(cfg.name, cfg.file, { mime: cfg.mime, meta: cfg.meta });
  const back = await readBack(client, cfg.name, cfg.file);
  return { ok: true, ...back };
}

async function main() {
  const cfg = JSON.parse(await readStdin());
  const client = new OSS({
    endpoint: cfg.endpoint,
    region: cfg.region,
    bucket: cfg.bucket,
    accessKeyId: cfg.accessKeyId,
    accessKeySecret: cfg.accessKeySecret,
    authorizationV4: !!cfg.v4,
    timeout: 60000,
  });
  const scenarios = { upload, resume, put };
  let out;
  try {
    out = await scenarios[cfg.scenario](client, cfg);
  } catch (err) {
    out = describeError(err);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ ok: false, name: 'RunnerError', message: String(err && err.message) }) + '\n');
  process.exitCode = 1;
});
