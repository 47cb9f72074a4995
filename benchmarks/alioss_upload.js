'use strict';
// The ali-oss side of scripts/bench: multipartUpload of FILE (--copies N: N objects at once)
// with the given partSize and parallel, then one JSON line on stdout. CPU and peak RSS are
// measured from outside (scripts/bench waits for this process with wait4), so the figures
// include node's start-up, as a user running a node uploader pays it.
//
//   node alioss_upload.js '{"endpoint":…,"bucket":…,"file":…,"partSize":…,"parallel":…,
//                           "copies":1,"name":"bench/"}'
//
// ali-oss comes from tests/node/node_modules (NODE_PATH, set by scripts/bench), the same
// pinned 6.23.0 that the cross-check tests use. For HTTPS, scripts/bench sets
// NODE_EXTRA_CA_CERTS to its self-signed CA.
const fs = require('fs');
const OSS = require('ali-oss');

async function main() {
  const cfg = JSON.parse(process.argv[2]);
  const client = new OSS({
    endpoint: cfg.endpoint,
    region: cfg.region || 'cn-local',
    bucket: cfg.bucket,
    accessKeyId: process.env.OSS_ACCESS_KEY_ID,
    accessKeySecret: process.env.OSS_ACCESS_KEY_SECRET,
    timeout: 600000,
  });
  const copies = cfg.copies || 1;
  const size = fs.statSync(cfg.file).size;
  let parts = 0;
  const start = process.hrtime.bigint();
  const one = async (i) => {
    await client.multipartUpload(`${cfg.name || 'bench/'}${i}`, cfg.file, {
      partSize: cfg.partSize,
      parallel: cfg.parallel,
    });
    // ali-oss raises partSize to fit 10 000 parts (managed-upload.js _getPartSize), as we do.
    parts += Math.ceil(size / client._getPartSize(size, cfg.partSize));
  };
  const jobs = [];
  for (let i = 0; i < copies; i += 1) jobs.push(one(i));
  await Promise.all(jobs);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  process.stdout.write(`${JSON.stringify({
    client: 'ali-oss', bytes: size * copies, objects: copies, parts, seconds,
    mb_per_s: (size * copies) / seconds / 1e6,
  })}\n`);
}

main().catch((err) => {
  // Never echo credentials: name, code, status and message only.
  process.stderr.write(`alioss_upload: ${err.name} ${err.code || ""} ${err.status || ""} ${String(err.message).slice(0, 300)}\n`);
  process.exit(1);
});
