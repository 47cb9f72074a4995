'use strict';
// Ranged and conditional GETs with the reference clients, to cross-check how the local server
// answers Range, x-oss-range-behavior and If-Match / If-None-Match / If-Modified-Since /
// If-Unmodified-Since (oss-protocol.md 11b):
//   dialect "oss": ali-oss `client.get(name, {headers})`;
//   dialect "s3":  @aws-sdk/client-s3 GetObjectCommand with Range / IfMatch / IfNoneMatch /
//                  IfModifiedSince / IfUnmodifiedSince.
// Input: one JSON object on stdin: {dialect, endpoint, region, bucket, key, accessKeyId,
// accessKeySecret, requests: [{headers: {Name: value}}]}. Output: one JSON line,
// {ok: true, replies: [{status, contentRange, size, md5, crc64, code}]}, one reply per request
// (an error reply has its status and code, no body); {ok: false, message} when the run failed.
const crypto = require('crypto');

function readStdin() {
  return new Promise((resolve, reject) => {
    let text = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => { text += chunk; });
    process.stdin.on('end', () => resolve(text));
    process.stdin.on('error', reject);
  });
}

function describe(status, headers, body) {
  const bytes = body || Buffer.alloc(0);
  return {
    status,
    contentRange: headers['content-range'] || null,
    size: bytes.length,
    md5: crypto.createHash('md5').update(bytes).digest('hex'),
    crc64: headers['x-oss-hash-crc64ecma'] || null,
    code: null,
  };
}

async function ossGet(cfg, request) {
  const OSS = require('ali-oss');
  const client = new OSS({
    endpoint: cfg.endpoint,
    region: cfg.region,
    bucket: cfg.bucket,
    accessKeyId: cfg.accessKeyId,
    accessKeySecret: cfg.accessKeySecret,
    authorizationV4: true,
    retryMax: 0,
  });
  try {
    const r = await client.get(cfg.key, { headers: request.headers });
    return describe(r.res.status, r.res.headers, r.content);
  } catch (err) {
    return { status: err.status, contentRange: null, size: 0, md5: null, crc64: null, code: err.code || null };
  }
}

async function s3Get(cfg, request) {
  const { S3Client, GetObjectCommand } = require('@aws-sdk/client-s3');
  const client = new S3Client({
    endpoint: cfg.endpoint,
    region: cfg.region,
    forcePathStyle: true,
    credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.accessKeySecret },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
  const h = request.headers || {};
  const input = { Bucket: cfg.bucket, Key: cfg.key };
  if (h.Range) input.Range = h.Range;
  if (h['If-Match']) input.IfMatch = h['If-Match'];
  if (h['If-None-Match']) input.IfNoneMatch = h['If-None-Match'];
  if (h['If-Modified-Since']) input.IfModifiedSince = new Date(h['If-Modified-Since']);
  if (h['If-Unmodified-Since']) input.IfUnmodifiedSince = new Date(h['If-Unmodified-Since']);
  try {
    const reply = await client.send(new GetObjectCommand(input));
    const body = Buffer.from(await reply.Body.transformToByteArray());
    const headers = { 'content-range': reply.ContentRange };
    return describe(reply.$metadata.httpStatusCode, headers, body);
  } catch (err) {
    const status = err.$metadata ? err.$metadata.httpStatusCode : null;
    return { status, contentRange: null, size: 0, md5: null, crc64: null, code: err.Code || err.name || null };
  } finally {
    client.destroy();
  }
}

async function main() {
  const cfg = JSON.parse(await readStdin());
  const get = cfg.dialect === 's3' ? s3Get : ossGet;
  const replies = [];
  for (const request of cfg.requests) replies.push(await get(cfg, request));
  process.stdout.write(`${JSON.stringify({ ok: true, replies })}\n`);
}

main().catch((err) => {
  process.stdout.write(`${JSON.stringify({ ok: false, message: String(err && err.message) })}\n`);
  process.exit(1);
});
