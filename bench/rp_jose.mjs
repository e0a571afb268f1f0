// rp_jose.mjs - the peer of bench_rp: the npm `jose` package verifying the same token.
//
//   bench_rp --dump DIR
//   JOSE_DIR=DIR_WITH_node_modules node bench/rp_jose.mjs DIR [ITERATIONS]
//
// DIR holds token.jwt, jwks.json and meta.json ({"issuer","now","nonce"}) written by bench_rp.
// jose is loaded from $JOSE_DIR/node_modules/jose (npm install jose there), else from the usual
// module resolution. The checks match att_rp_verify's: key by kid from the local JWKS
// (createLocalJWKSet, keys imported once and cached by jose), RS256 allowed, signature, iss,
// exp/nbf at meta.now with 60 s tolerance, and the nonce claim. One thread (node's main loop),
// awaited sequentially: jwtVerify is async (WebCrypto), as every jose user calls it.
// Prints: rp jose verifies_per_s=N iterations=N jose=VERSION node=VERSION
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [dir, itArg] = process.argv.slice(2);
if (!dir) {
    console.error('usage: node rp_jose.mjs DIR [ITERATIONS]');
    process.exit(2);
}
const iterations = Number(itArg || process.env.JOSE_ITERATIONS || 5000);
const joseDir = process.env.JOSE_DIR;
let jose, version = '?';
try {
    if (joseDir) {
        const pkg = path.join(joseDir, 'node_modules', 'jose', 'package.json');
        const meta = JSON.parse(fs.readFileSync(pkg, 'utf8'));
        version = meta.version;
        const entry = meta.exports?.['.']?.default ?? meta.exports?.['.']?.import ?? meta.main;
        jose = await import(pathToFileURL(path.join(path.dirname(pkg), entry)).href);
    } else {
        jose = await import('jose');
    }
} catch (e) {
    console.error(`rp_jose: cannot load jose (${e.message}); npm install jose into JOSE_DIR`);
    process.exit(2);
}

const token = fs.readFileSync(path.join(dir, 'token.jwt'), 'utf8').trim();
const jwks = jose.createLocalJWKSet(JSON.parse(fs.readFileSync(path.join(dir, 'jwks.json'), 'utf8')));
const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
const opts = {
    issuer: meta.issuer,
    algorithms: ['RS256'],
    currentDate: new Date(meta.now * 1000),
    clockTolerance: 60,
};

async function once() {
    const { payload } = await jose.jwtVerify(token, jwks, opts);
    if (payload.nonce !== meta.nonce) throw new Error(`nonce ${payload.nonce} != ${meta.nonce}`);
}

try {
    for (let i = 0; i < Math.min(500, iterations); i++) await once(); // warm-up (JIT, key import)
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await once();
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(`rp jose verifies_per_s=${(iterations / secs).toFixed(0)} iterations=${iterations} ` +
        `jose=${version} node=${process.version}`);
} catch (e) {
    console.error(`rp_jose: verification failed: ${e.code || ''} ${e.message}`);
    process.exit(1);
}
