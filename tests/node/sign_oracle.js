// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
//
// Signing oracle for tests/integration/test_alioss_sign.cpp: computes the Authorization header
// that ali-oss 6.23.0 itself would send, with ali-oss's own signing code, for requests described
// by the C++ test. Input: one JSON object per line on stdin. Output: first a line
// {"ali_oss_version": "..."}, then one line {"id": n, "authorization": "..."} (or
// {"id": n, "error": "..."}) per input line, in order. Reads all input before writing anything,
// so the parent can write everything and then read.
//
// Input line: {id, version: "v1"|"v4", method, bucket, key, headers: [[name, value], ...],
//   subres: [[name, value|null], ...], query: [[name, value|null], ...], additional_headers: [...],
//   region, access_key_id, access_key_secret}
//
// How the inputs reach ali-oss, mirroring lib/client.js and lib/common/utils/createRequest.js:
//  - V1: client.authorization() = signUtils.buildCanonicalString(method, _getResource(), {headers,
//    parameters: subres}) + signUtils.authorization(). Only `subres` is signed, as each ali-oss
//    operation passes its sub-resources there and ordinary parameters (max-parts, ...) in `query`.
//    ali-oss fills the date slot from x-oss-date (it always sends one). For a request that carries
//    only Date (what asio-oss sends), the Date value goes into the same slot through
//    buildCanonicalString's fourth argument, the one ali-oss uses for presigned URLs' Expires.
//  - V4: client.authorizationV4() = signUtils.authorizationV4(ak, sk, getStandardRegion(region),
//    method, {headers, queries: subres + query}, bucket, object, additionalHeaders). Value-less
//    parameters are null, as createRequest makes them. ali-oss throws on an additional header
//    that the request lacks, where the cpp/go2 SDKs (and asio-oss) drop it; such names are
//    dropped here before the call.

'use strict';

const signUtils = require('ali-oss/lib/common/signUtils');
const { getStandardRegion } = require('ali-oss/lib/common/utils/getStandardRegion');
const aliOssVersion = require('ali-oss/package.json').version;

function toObject(pairs) {
  const obj = {};
  for (const [name, value] of pairs || []) obj[name] = value;
  return obj;
}

function sign(req) {
  const headers = toObject(req.headers);
  const lowerNames = new Set(Object.keys(headers).map(k => k.toLowerCase()));
  const lowerHeaders = {};
  for (const [name, value] of Object.entries(headers)) lowerHeaders[name.toLowerCase()] = value;

  if (req.version === 'v1') {
    // lib/client.js _getResource with headerEncoding 'utf-8' (the encoder is the identity).
    let resource = '/';
    if (req.bucket) resource += `${req.bucket}/`;
    if (req.key) resource += req.key;
    const dateSlot = lowerHeaders['x-oss-date'] === undefined ? lowerHeaders.date : undefined;
    const canonical = signUtils.buildCanonicalString(
      req.method.toUpperCase(),
      resource,
      { headers, parameters: toObject(req.subres) },
      dateSlot
    );
    return signUtils.authorization(req.access_key_id, req.access_key_secret, canonical, 'utf-8');
  }

  const queries = Object.assign(toObject(req.subres), toObject(req.query));
  const additional = (req.additional_headers || []).filter(name => lowerNames.has(name.toLowerCase()));
  return signUtils.authorizationV4(
    req.access_key_id,
    req.access_key_secret,
    getStandardRegion(req.region),
    req.method,
    { headers, queries },
    req.bucket || undefined,
    req.key || undefined,
    additional,
    'utf-8'
  );
}

const chunks = [];
process.stdin.on('data', chunk => chunks.push(chunk));
process.stdin.on('end', () => {
  const out = [JSON.stringify({ ali_oss_version: aliOssVersion })];
  const text = Buffer.concat(chunks).toString('utf8');
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let id = null;
    try {
      const req = JSON.parse(line);
      id = req.id;
      out.push(JSON.stringify({ id, authorization: sign(req) }));
    } catch (err) {
      // The message names the failing step only; it never contains the request's secret.
      out.push(JSON.stringify({ id, error: String(err && err.message) }));
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);
});
