'use strict';
// The AWS side of scripts/bench (S3 dialect workload): @aws-sdk/lib-storage `Upload` of FILE
// (--copies N: N objects at once) with the given partSize and queueSize (= parallel), then one
// JSON line on stdout. Like alioss_upload.js, CPU and peak RSS are measured from outside, so the
// figures include node's start-up.
//
//   node s3_lib_storage_upload.js '{"endpoint":…,"bucket":…,"region":…,"file":…,
//                                   "partSize":…,"parallel":…,"copies":1,"name":"bench/"}'
//
// @aws-sdk/client-s3 and @aws-sdk/lib-storage come from tests/node/node_modules (NODE_PATH, set
// by scripts/bench), pinned there at 3.1175.0. The SDK runs at its defaults (including its
// default request checksums); only the endpoint is local, so it is addressed path-style.
// lib-storage refuses parts below 5 MiB (S3's minimum), hence the 8 MiB workload.
const fs = require('fs');
const { S3Client } = require('@aws-sdk/client-s3');
const { Upload } = require('@aws-sdk/lib-storage');

async function main() {
  const cfg = JSON.parse(process.argv[2]);
  const client = new S3Client({
    endpoint: cfg.endpoint,
    region: cfg.region || 'cn-local',
    forcePathStyle: true,
    credentials: {
      accessKeyId: process.env.OSS_ACCESS_KEY_ID,
      secretAccessKey: process.env.OSS_ACCESS_KEY_SECRET,
    },
  });
  const copies = cfg.copies || 1;
  const size = fs.statSync(cfg.file).size;
  // lib-storage raises the part size to fit 10 000 parts, as we do.
  const partSize = Math.max(cfg.partSize, Math.ceil(size / 10000));
  let parts = 0;
  const start = process.hrtime.bigint();
  const one = async (i) => {
    const upload = new Upload({
      client,
      params: { Bucket: cfg.bucket, Key: `${cfg.name || 'bench/'}${i}`, Body: fs.createReadStream(cfg.file) },
      partSize,
      queueSize: cfg.parallel,
    });
    await upload.done();
    parts += Math.ceil(size / partSize);
  };
  const jobs = [];
  for (let i = 0; i < copies; i += 1) jobs.push(one(i));
  await Promise.all(jobs);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  process.stdout.write(`${JSON.stringify({
    client: 'lib-storage', bytes: size * copies, objects: copies, parts, seconds,
    mb_per_s: (size * copies) / seconds / 1e6,
  })}\n`);
}

main().catch((err) => {
  // Never echo credentials: name, code, status and message only.
  const status = err.$metadata ? err.$metadata.httpStatusCode : '';
  process.stderr.write(`s3_lib_storage_upload: ${err.name} ${err.Code || ''} ${status || ''} ${String(err.message).slice(0, 300)}\n`);
  process.exit(1);
});
