// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
//
// Reads one object back with the real AWS SDK for JavaScript v3 (@aws-sdk/client-s3
// GetObjectCommand), so that tests check what asio-oss stored through an independent client:
//
//   node s3_get.js ENDPOINT BUCKET KEY [OUTFILE]
//
// ENDPOINT is e.g. http://127.0.0.1:4568 (path-style addressing, region us-east-1). The
// credentials come from S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY, default S3RVER / S3RVER
// (what s3rver accepts). Writes the object's bytes to OUTFILE when given, and prints one JSON
// line: {"ok": true, "size", "sha256" (lower hex), "content_type", "content_length", "etag",
// "metadata": {name: value} (x-amz-meta-* without the prefix, names lower case),
// "content_disposition", "content_encoding", "cache_control"}. On failure it prints
// {"ok": false, "name", "status", "message"} and exits with status 1.

'use strict';

const crypto = require('crypto');
const fs = require('fs');
const { S3Client, GetObjectCommand } = require('@aws-sdk/client-s3');

async function main() {
  const [endpoint, bucket, key, outfile] = process.argv.slice(2);
  if (!endpoint || !bucket || key === undefined) {
    process.stderr.write('usage: node s3_get.js ENDPOINT BUCKET KEY [OUTFILE]\n');
    process.exit(2);
  }
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: {
      accessKeyId: process.env.S3_ACCESS_KEY_ID || 'S3RVER',
      secretAccessKey: process.env.S3_SECRET_ACCESS_KEY || 'S3RVER',
    },
    // s3rver sends no x-amz-checksum-* headers; do not ask for or expect them.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
  try {
    const reply = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const hash = crypto.createHash('sha256');
    const out = outfile ? fs.createWriteStream(outfile) : null;
    let size = 0;
    for await (const chunk of reply.Body) {
      hash.update(chunk);
      size += chunk.length;
      if (out && !out.write(chunk)) await new Promise(resolve => out.once('drain', resolve));
    }
    if (out) await new Promise((resolve, reject) => out.end(err => (err ? reject(err) : resolve())));
    process.stdout.write(
      `${JSON.stringify({
        ok: true,
        size,
        sha256: hash.digest('hex'),
        content_type: reply.ContentType ?? null,
        content_length: reply.ContentLength ?? null,
        etag: reply.ETag ?? null,
        metadata: reply.Metadata ?? {},
        content_disposition: reply.ContentDisposition ?? null,
        content_encoding: reply.ContentEncoding ?? null,
        cache_control: reply.CacheControl ?? null,
      })}\n`,
    );
  } catch (err) {
    process.stdout.write(
      `${JSON.stringify({
        ok: false,
        name: err && err.name,
        status: err && err.$metadata ? err.$metadata.httpStatusCode ?? null : null,
        message: String(err && err.message),
      })}\n`,
    );
    process.exit(1);
  } finally {
    client.destroy();
  }
}

main();
