'use strict';
// The ali-oss side of scripts/bench's download workload: client.get(NAME, FILE), which streams
// the object into FILE with one GET, then one JSON line on stdout. CPU and peak RSS are
// measured from outside (wait4), so they include node's start-up.
//
//   node alioss_download.js '{"endpoint":…,"bucket":…,"name":…,"file":…}'
//
// ali-oss comes from tests/node/node_modules (NODE_PATH, set by scripts/bench).
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
  const start = process.hrtime.bigint();
  await client.get(cfg.name, cfg.file);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const size = fs.statSync(cfg.file).size;
  process.stdout.write(`${JSON.stringify({ client: 'ali-oss', bytes: size, objects: 1, parts: 1, seconds })}\n`);
}

main().catch((err) => {
  // Never echo credentials: name, code, status and message only.
  process.stderr.write(`alioss_download: ${err.name} ${err.code || ""} ${err.status || ""} ${String(err.message).slice(0, 300)}\n`);
  process.exit(1);
});
