// sdk_test.mjs - attestd against the official Azure Attestation SDK (@azure/attestation 1.0.0,
// unmodified) and the `jose` package. Started by run_interop.py, which installs the packages into
// the build directory, starts the servers and passes their URLs in the environment:
//   HTTP_URL  plain-HTTP attestd (AAD mode), --at the SGX vector's verification time
//   TLS_URL   HTTPS attestd (AAD mode), same clock; the admin client needs HTTPS (bearer policy)
//   ISO_URL   HTTPS attestd in isolated mode, signer A in --isolated-signers
//   TLS_CA    CA of the servers' TLS certificate (also in NODE_EXTRA_CA_CERTS)
//   QUOTE     SGX quote file, EXPECTED its expected.json
//   SIGNER_A_KEY/_CERT, SIGNER_B_KEY/_CERT  PEM policy signers (self-signed CAs, RSA-2048)
//   SIM_URL   plain-HTTP attestd trusting the simulated platform; SIM_QUOTE its SGX quote binding
//             the file SIM_RUNTIME (runtime data through the SDK)
//   SIGNER_C_KEY/_CERT  a self-signed CA:false certificate (RSA-2048), as the SDK's own test adds
// Prints "N passed, M failed" and exits 1 on any failure.
import { AttestationClient, AttestationAdministrationClient, KnownAttestationType,
         createAttestationPolicyToken } from "@azure/attestation";
import * as jose from "jose";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";

const env = process.env;
const HTTP_URL = env.HTTP_URL, TLS_URL = env.TLS_URL, ISO_URL = env.ISO_URL;
const CA = readFileSync(env.TLS_CA);
const quote = readFileSync(env.QUOTE);
const expected = JSON.parse(readFileSync(env.EXPECTED, "utf8"));
const A = { key: readFileSync(env.SIGNER_A_KEY, "utf8"), cert: readFileSync(env.SIGNER_A_CERT, "utf8") };
const B = { key: readFileSync(env.SIGNER_B_KEY, "utf8"), cert: readFileSync(env.SIGNER_B_CERT, "utf8") };
const C = { key: readFileSync(env.SIGNER_C_KEY, "utf8"), cert: readFileSync(env.SIGNER_C_CERT, "utf8") };

let passed = 0, failed = 0;
function check(what, cond, detail) {
  if (cond) { passed++; return true; }
  failed++;
  console.log(`FAIL: ${what}` + (detail !== undefined ? `\n  | ${String(detail).slice(0, 1500).replace(/\n/g, "\n  | ")}` : ""));
  return false;
}
const eq = (what, got, want) => check(what, JSON.stringify(got) === JSON.stringify(want),
                                      `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
async function step(name, fn) {
  try { await fn(); } catch (e) { check(`${name} threw`, false, e && (e.stack || e)); }
}
async function rejects(what, p, pred) {
  try { await p; check(`${what}: rejected`, false, "resolved"); return undefined; }
  catch (e) { check(`${what}: rejected as expected`, pred ? pred(e) : true, errText(e)); return e; }
}
const errText = (e) => `${e && e.name} status=${e && e.statusCode} code=${e && e.code}: ${e && e.message}`;
const b64url = (b) => Buffer.from(b).toString("base64url");
const sha256 = (s) => createHash("sha256").update(s).digest();

// A dummy credential: attestd does not check bearer tokens; the SDK only needs one to exist.
const credential = { getToken: async () => ({ token: "attestd-interop-dummy",
                                             expiresOnTimestamp: Date.now() + 3600 * 1000 }) };

// The SDK's own token validation, all on, issuer pinned. The callback records that a signer from
// /certs was found for every signed token.
function validation(issuer, seen) {
  return {
    validateToken: true, validateExpirationTime: true, validateNotBeforeTime: true,
    validateIssuer: true, expectedIssuer: issuer, timeValidationSlack: 10,
    validateAttestationToken: (token, signer) => {
      seen.push({ alg: token.algorithm, kid: token.keyId, signer });
      if (token.algorithm !== "none" && !signer) return ["no signer found"];
      return undefined;
    },
  };
}

function getJson(url) {
  const mod = url.startsWith("https:") ? https : http;
  return new Promise((resolve, reject) => {
    mod.get(url, { ca: CA }, (res) => {
      let b = ""; res.setEncoding("utf8");
      res.on("data", (c) => (b += c));
      res.on("end", () => { try { resolve(JSON.parse(b)); } catch (e) { reject(e); } });
    }).on("error", reject);
  });
}

// Every token: verified with jose against the JWKS from /certs, issuer checked.
const jwksCache = new Map();
async function joseVerify(what, token, issuer) {
  if (!jwksCache.has(issuer)) jwksCache.set(issuer, await getJson(`${issuer}/certs`));
  // refetch once when the kid is not known (key rotation)
  const kid = jose.decodeProtectedHeader(token).kid;
  if (!jwksCache.get(issuer).keys.some((k) => k.kid === kid))
    jwksCache.set(issuer, await getJson(`${issuer}/certs`));
  try {
    const { payload, protectedHeader } = await jose.jwtVerify(token,
      jose.createLocalJWKSet(jwksCache.get(issuer)), { issuer, algorithms: ["RS256"] });
    check(`${what}: jose verifies (typ JWT, jku)`, protectedHeader.typ === "JWT" &&
          protectedHeader.jku === `${issuer}/certs`, JSON.stringify(protectedHeader));
    return payload;
  } catch (e) {
    check(`${what}: jose verifies`, false, e);
    return undefined;
  }
}

const rep = expected.quote.report;

// ---------------------------------------------------------------- attestation client, plain HTTP
async function attestationClient(url) {
  const seen = [];
  // core-rest-pipeline >= 1.15 refuses http:// unless the client opts in (a pipeline option the
  // SDK passes through); the bearer policy refuses http:// regardless, so admin tests use HTTPS.
  const client = new AttestationClient(url, { allowInsecureConnection: true,
                                              validationOptions: validation(url, seen) });

  await step("getOpenIdMetadata", async () => {
    const md = await client.getOpenIdMetadata();
    eq("openid issuer", md.issuer, url);
    eq("openid jwks_uri", md.jwks_uri, `${url}/certs`);
    check("openid algs", (md.id_token_signing_alg_values_supported || []).includes("RS256"), JSON.stringify(md));
  });

  await step("getAttestationSigners", async () => {
    const signers = await client.getAttestationSigners();
    eq("one signer", signers.length, 1);
    const jwks = await getJson(`${url}/certs`);
    eq("signer keyId = /certs kid", signers[0].keyId, jwks.keys[0].kid);
    check("signer certificate is PEM", /BEGIN CERTIFICATE/.test(signers[0].certificates[0]),
          signers[0].certificates[0]);
  });

  await step("attestTpm round 1", async () => {
    // MAA's TPM protocol, first round, as the SDK's own TPM test makes it
    const r = JSON.parse(await client.attestTpm(JSON.stringify({ payload: { type: "aikcert" } })));
    check("tpm: payload.challenge", typeof (r.payload || {}).challenge === "string" &&
          Buffer.from(r.payload.challenge, "base64url").length === 32, JSON.stringify(r));
    check("tpm: payload.service_context", typeof (r.payload || {}).service_context === "string" &&
          r.payload.service_context.length > 43, JSON.stringify(r));
  });
  await step("attestSgxEnclave", async () => {
    const r = await client.attestSgxEnclave(quote);
    const v = r.body;
    eq("sgx: issuer", v.issuer, url);
    eq("sgx: mrEnclave", v.mrEnclave, rep.mrenclave);
    eq("sgx: mrSigner", v.mrSigner, rep.mrsigner);
    eq("sgx: productId", v.productId, rep.isvprodid);
    eq("sgx: svn", v.svn, rep.isvsvn);
    eq("sgx: isDebuggable", v.isDebuggable, rep.debug);
    eq("sgx: verifierType", v.verifierType, "sgx");
    eq("sgx: version", v.version, "1.0");
    check("sgx: uniqueId (jti)", /^[0-9a-f]{64}$/.test(v.uniqueId || ""), v.uniqueId);
    check("sgx: policyHash decodes to 32 bytes", v.policyHash && v.policyHash.length === 32, v.policyHash);
    check("sgx: sgxCollateral", v.sgxCollateral && typeof v.sgxCollateral.quotehash === "string",
          JSON.stringify(v.sgxCollateral));
    eq("sgx: quotehash", v.sgxCollateral && v.sgxCollateral.quotehash, sha256(quote).toString("hex"));
    check("sgx: token kept", typeof r.token.serialize() === "string");
    const p = await joseVerify("sgx token", r.token.serialize(), url);
    if (p) eq("sgx token (jose): x-ms-sgx-mrenclave", p["x-ms-sgx-mrenclave"], rep.mrenclave);
    // as MAA: the default policy's issued claims also in x-ms-policy (the SDK's policyClaims), the
    // deprecated maa-attestationcollateral beside x-ms-sgx-collateral, no runtime data claims
    eq("sgx: policyClaims (x-ms-policy) of the default policy",
       v.policyClaims && [v.policyClaims["sgx-mrenclave"], v.policyClaims["sgx-mrsigner"], v.policyClaims.tee],
       [rep.mrenclave, rep.mrsigner, "sgx"]);
    if (p) {
      eq("sgx token: maa-attestationcollateral = x-ms-sgx-collateral", p["maa-attestationcollateral"],
         p["x-ms-sgx-collateral"]);
      eq("sgx token without runtime data: no x-ms-sgx-ehd, maa-ehd, aas-ehd, x-ms-runtime",
         ["x-ms-sgx-ehd", "maa-ehd", "aas-ehd", "x-ms-runtime"].filter((k) => k in p), []);
    }
  });

  await step("attestSgxEnclave runTimeData mismatch", async () => {
    const e = await rejects("sgx runTimeData mismatch",
      client.attestSgxEnclave(quote, { runTimeData: Buffer.from("not bound to this quote") }),
      (e) => e.statusCode === 400);
    if (e) {
      eq("runTimeData mismatch: RestError code", e.code, "InvalidParameter");
      check("runTimeData mismatch: message says so", /runtime data/i.test(e.message) && /REPORTDATA/.test(e.message), errText(e));
    }
    await rejects("sgx runTimeJson mismatch",
      client.attestSgxEnclave(quote, { runTimeJson: Buffer.from('{"a":1}') }), (e) => e.statusCode === 400);
    await rejects("sgx initTimeData mismatch",
      client.attestSgxEnclave(quote, { initTimeData: Buffer.from("cfg") }), (e) => e.statusCode === 400);
  });

  await step("attestOpenEnclave", async () => {
    const hdr = Buffer.alloc(16);
    hdr.writeUInt32LE(1, 0); hdr.writeUInt32LE(2, 4); hdr.writeBigUInt64LE(BigInt(quote.length), 8);
    const r = await client.attestOpenEnclave(Buffer.concat([hdr, quote]));
    eq("oe: mrEnclave", r.body.mrEnclave, rep.mrenclave);
    eq("oe: mrSigner", r.body.mrSigner, rep.mrsigner);
    await joseVerify("oe token", r.token.serialize(), url);
    await rejects("oe with a corrupt header", client.attestOpenEnclave(Buffer.concat([Buffer.alloc(16), quote])),
                  (e) => e.statusCode === 400);
  });

  await step("draftPolicyForAttestation", async () => {
    const draft = 'version=1.0; authorizationrules { => permit(); }; issuancerules { ' +
      'c:[type=="x-ms-sgx-mrsigner"] => issue(type="draft-signer", value=c.value); };';
    const r = await client.attestSgxEnclave(quote, { draftPolicyForAttestation: draft });
    eq("draft: unsecured token", r.token.algorithm, "none");
    eq("draft: issued claim", r.token.getBody()["draft-signer"], rep.mrsigner);
  });

  await step("attest with a tampered signer set", async () => {
    // The SDK's signature check is real: a client that believes in another key rejects our token.
    const other = new AttestationClient(url, { allowInsecureConnection: true,
                                               validationOptions: validation(url, []) });
    other._signers = [{ keyId: (await client.getAttestationSigners())[0].keyId,
                        certificates: [A.cert] }];
    await rejects("token checked against the wrong certificate", other.attestSgxEnclave(quote),
                  (e) => /not properly signed/.test(e.message));
    const wrongIssuer = new AttestationClient(url, { allowInsecureConnection: true,
                                                     validationOptions: validation("https://elsewhere", []) });
    await rejects("token with another expected issuer", wrongIssuer.attestSgxEnclave(quote),
                  (e) => /issuer/i.test(e.message));
  });
  check("SDK validation callback saw signed tokens with a signer",
        seen.some((s) => s.alg === "RS256" && s.signer), JSON.stringify(seen.slice(0, 3)));
  check("SDK validation: every RS256 token had a signer", seen.every((s) => s.alg === "none" || s.signer));
}

// ---------------------------------------------------------------- administration, HTTPS, AAD mode
async function adminAad(url) {
  const seen = [];
  const admin = new AttestationAdministrationClient(url, credential, { validationOptions: validation(url, seen) });
  const client = new AttestationClient(url, credential, { validationOptions: validation(url, seen) });
  const T = KnownAttestationType.SgxEnclave;

  await step("admin client refuses plain HTTP (SDK rule)", async () => {
    // Documented here because it decides how attestd must be deployed for admin SDK users.
    const insecure = new AttestationAdministrationClient(HTTP_URL, credential,
      { allowInsecureConnection: true, validationOptions: validation(HTTP_URL, []) });
    await rejects("admin client over http://", insecure.getPolicy(T),
                  (e) => /non-TLS|non-https/i.test(e.message));
  });

  await step("attest over HTTPS", async () => {
    const r = await client.attestSgxEnclave(quote);
    eq("https attest: mrEnclave", r.body.mrEnclave, rep.mrenclave);
    await joseVerify("https attest token", r.token.serialize(), url);
  });

  let defaultPolicy;
  await step("getPolicy", async () => {
    const r = await admin.getPolicy(T);
    defaultPolicy = r.body;
    check("default policy text", /authorizationrules/.test(r.body) && /permit\(\)/.test(r.body), r.body);
    await joseVerify("getPolicy token", r.token.serialize(), url);
  });

  const deny = 'version=1.0; authorizationrules { c:[type=="x-ms-sgx-is-debuggable", value==true] => permit(); }; issuancerules { };';
  const permit = 'version=1.0; authorizationrules { => permit(); }; issuancerules { => issue(type="interop", value="yes"); };';

  await step("setPolicy unsigned", async () => {
    const r = await admin.setPolicy(T, deny);
    eq("setPolicy: policyResolution", r.body.policyResolution, "Updated");
    const sent = createAttestationPolicyToken(deny).serialize();
    eq("setPolicy: policyTokenHash = SHA-256(token sent)", Buffer.from(r.body.policyTokenHash).toString("hex"),
       sha256(sent).toString("hex"));
    eq("setPolicy unsigned: no policySigner", r.body.policySigner, undefined);
    await joseVerify("setPolicy token", r.token.serialize(), url);
    eq("getPolicy after setPolicy", (await admin.getPolicy(T)).body, deny);
    const e = await rejects("attest under the deny policy", client.attestSgxEnclave(quote), (e) => e.statusCode === 400);
    if (e) check("deny: PolicyEvaluationError with MAA's message", e.code === "PolicyEvaluationError" &&
                 /A Deny claim was issued, authorization failed\./.test(e.message), errText(e));
  });

  await step("setPolicy signed", async () => {
    const r = await admin.setPolicy(T, permit, { privateKey: A.key, certificate: A.cert });
    eq("signed setPolicy: Updated", r.body.policyResolution, "Updated");
    const sent = createAttestationPolicyToken(permit, A.key, A.cert).serialize();
    eq("signed setPolicy: policyTokenHash", Buffer.from(r.body.policyTokenHash).toString("hex"),
       sha256(sent).toString("hex"));
    check("signed setPolicy: policySigner is A", r.body.policySigner &&
          r.body.policySigner.certificates[0].replace(/\s/g, "") === A.cert.replace(/\s/g, ""),
          JSON.stringify(r.body.policySigner));
    const got = await admin.getPolicy(T);
    eq("getPolicy after signed setPolicy", got.body, permit);
    const a = await client.attestSgxEnclave(quote);
    check("attest under the signed policy: policySigner", a.body.policySigner !== undefined,
          JSON.stringify(a.body.policySigner));
    eq("attest under the signed policy: issued claim", a.token.getBody().interop, "yes");
    await joseVerify("attest under signed policy", a.token.serialize(), url);
  });

  await step("resetPolicy", async () => {
    const r = await admin.resetPolicy(T);
    eq("resetPolicy: Removed", r.body.policyResolution, "Removed");
    await joseVerify("resetPolicy token", r.token.serialize(), url);
    eq("getPolicy after reset = default", (await admin.getPolicy(T)).body, defaultPolicy);
    const a = await client.attestSgxEnclave(quote);
    eq("attest after reset", a.body.mrEnclave, rep.mrenclave);
  });

  await step("getPolicyManagementCertificates (AAD mode)", async () => {
    const r = await admin.getPolicyManagementCertificates();
    eq("AAD mode: no policy management certificates", r.body.length, 0);
  });
  check("admin: SDK validation found a signer for every signed token",
        seen.length > 0 && seen.every((s) => s.alg === "none" || s.signer), JSON.stringify(seen.slice(0, 3)));
}

// ---------------------------------------------------------------- administration, isolated mode
async function adminIsolated(url) {
  const seen = [];
  const admin = new AttestationAdministrationClient(url, credential, { validationOptions: validation(url, seen) });
  const T = KnownAttestationType.SgxEnclave;
  const certsOf = async () => (await admin.getPolicyManagementCertificates()).body
    .map((s) => s.certificates[0].replace(/\s/g, ""));
  const pem = (c) => c.replace(/\s/g, "");

  await step("isolated: getPolicyManagementCertificates", async () => {
    const r = await admin.getPolicyManagementCertificates();
    eq("isolated: one certificate", r.body.length, 1);
    eq("isolated: it is A", pem(r.body[0].certificates[0]), pem(A.cert));
    await joseVerify("getPolicyManagementCertificates token", r.token.serialize(), url);
  });

  const permit = 'version=1.0; authorizationrules { => permit(); }; issuancerules { };';
  await step("isolated: setPolicy", async () => {
    const e = await rejects("isolated: unsigned setPolicy", admin.setPolicy(T, permit), (e) => e.statusCode === 400);
    if (e) eq("unsigned setPolicy: InvalidOperation", e.code, "InvalidOperation");
    await rejects("isolated: setPolicy signed by B (not yet trusted)",
                  admin.setPolicy(T, permit, { privateKey: B.key, certificate: B.cert }), (e) => e.statusCode === 400);
    const r = await admin.setPolicy(T, permit, { privateKey: A.key, certificate: A.cert });
    eq("isolated: signed setPolicy", r.body.policyResolution, "Updated");
    await rejects("isolated: unsigned resetPolicy", admin.resetPolicy(T), (e) => e.statusCode === 400);
    const rr = await admin.resetPolicy(T, { privateKey: A.key, certificate: A.cert });
    eq("isolated: signed resetPolicy", rr.body.policyResolution, "Removed");
  });

  await step("isolated: add/remove policy management certificates", async () => {
    const thumb = (c) => createHash("sha1").update(Buffer.from(c.replace(/-----[^-]+-----|\s/g, ""), "base64"))
      .digest("hex");
    const r = await admin.addPolicyManagementCertificate(B.cert, A.key, A.cert);
    eq("add: IsPresent", r.body.certificateResolution, "IsPresent");
    eq("add: thumbprint", (r.body.certificateThumbprint || "").toLowerCase(), thumb(B.cert));
    await joseVerify("add token", r.token.serialize(), url);
    eq("after add: A and B", (await certsOf()).sort(), [pem(A.cert), pem(B.cert)].sort());
    const s = await admin.setPolicy(T, permit, { privateKey: B.key, certificate: B.cert });
    eq("B can set policy after add", s.body.policyResolution, "Updated");
    const rm = await admin.removePolicyManagementCertificate(B.cert, A.key, A.cert);
    eq("remove: IsAbsent", rm.body.certificateResolution, "IsAbsent");
    eq("remove: thumbprint", (rm.body.certificateThumbprint || "").toLowerCase(), thumb(B.cert));
    await joseVerify("remove token", rm.token.serialize(), url);
    eq("after remove: A only", await certsOf(), [pem(A.cert)]);
    await rejects("add signed by an untrusted key", admin.addPolicyManagementCertificate(B.cert, B.key, B.cert),
                  (e) => e.statusCode === 400);
    await rejects("removing the last certificate", admin.removePolicyManagementCertificate(A.cert, A.key, A.cert),
                  (e) => e.statusCode === 400);
    eq("the last certificate stays", await certsOf(), [pem(A.cert)]);
  });

  // The SDK's own setPolicyCertificates test: a self-signed certificate that is not a CA, added
  // twice (IsPresent), removed twice (IsAbsent), with the upper-case hex SHA-1 thumbprint.
  await step("isolated: add/remove a certificate that is not a CA (the SDK's own test)", async () => {
    const want = createHash("sha1").update(Buffer.from(C.cert.replace(/-----[^-]+-----|\s/g, ""), "base64"))
      .digest("hex").toUpperCase();
    for (const i of [1, 2]) {
      const r = await admin.addPolicyManagementCertificate(C.cert, A.key, A.cert);
      eq(`CA:false add #${i}: IsPresent`, r.body.certificateResolution, "IsPresent");
      eq(`CA:false add #${i}: upper-case thumbprint`, r.body.certificateThumbprint, want);
    }
    eq("after add: A and C", (await certsOf()).sort(), [pem(A.cert), pem(C.cert)].sort());
    const s = await admin.setPolicy(T, permit, { privateKey: C.key, certificate: C.cert });
    eq("C (CA:false) can set policy after add", s.body.policyResolution, "Updated");
    for (const i of [1, 2]) {
      const r = await admin.removePolicyManagementCertificate(C.cert, A.key, A.cert);
      eq(`CA:false remove #${i}: IsAbsent`, r.body.certificateResolution, "IsAbsent");
      eq(`CA:false remove #${i}: upper-case thumbprint`, r.body.certificateThumbprint, want);
    }
    eq("after remove: A only", await certsOf(), [pem(A.cert)]);
  });
  check("isolated: SDK validation found a signer for every signed token",
        seen.length > 0 && seen.every((s) => s.alg === "none" || s.signer));
}

// ---------------------------------------------------------------- runtime data, as the SDK's own tests
// check it: a simulated SGX quote (attest sim) whose REPORTDATA binds SIM_RUNTIME. runTimeJson gives
// runTimeClaims (x-ms-runtime) and no enclaveHeldData (x-ms-sgx-ehd); runTimeData the reverse; both
// for SgxEnclave and OpenEnclave. Skipped (one line) when run_interop.py gave no SIM_URL.
async function runtimeData(url) {
  const seen = [];
  const client = new AttestationClient(url, { allowInsecureConnection: true,
                                              validationOptions: validation(url, seen) });
  const simQuote = readFileSync(env.SIM_QUOTE), runtime = readFileSync(env.SIM_RUNTIME);
  const hdr = Buffer.alloc(16);
  hdr.writeUInt32LE(1, 0); hdr.writeUInt32LE(2, 4); hdr.writeBigUInt64LE(BigInt(simQuote.length), 8);
  const report = Buffer.concat([hdr, simQuote]);
  for (const [name, attest] of [["sgx", (o) => client.attestSgxEnclave(simQuote, o)],
                                ["oe", (o) => client.attestOpenEnclave(report, o)]]) {
    await step(`${name}: runTimeJson`, async () => {
      const r = await attest({ runTimeJson: runtime });
      eq(`${name} runTimeJson: runTimeClaims is the JSON`, r.body.runTimeClaims, JSON.parse(runtime));
      eq(`${name} runTimeJson: no enclaveHeldData`, r.body.enclaveHeldData, undefined);
      const p = await joseVerify(`${name} runTimeJson token`, r.token.serialize(), url);
      if (p) eq(`${name} runTimeJson token: no x-ms-sgx-ehd, maa-ehd, aas-ehd`,
                ["x-ms-sgx-ehd", "maa-ehd", "aas-ehd"].filter((k) => k in p), []);
    });
    await step(`${name}: runTimeData`, async () => {
      const r = await attest({ runTimeData: runtime });
      eq(`${name} runTimeData: enclaveHeldData is the bytes`,
         r.body.enclaveHeldData && Buffer.from(r.body.enclaveHeldData).toString("hex"), runtime.toString("hex"));
      eq(`${name} runTimeData: no runTimeClaims`, r.body.runTimeClaims, undefined);
      const p = await joseVerify(`${name} runTimeData token`, r.token.serialize(), url);
      if (p) eq(`${name} runTimeData token: maa-ehd and aas-ehd = x-ms-sgx-ehd`,
                [p["maa-ehd"], p["aas-ehd"]], [p["x-ms-sgx-ehd"], p["x-ms-sgx-ehd"]]);
    });
  }
  check("runtime data: SDK validation found a signer for every token",
        seen.length > 0 && seen.every((s) => s.alg === "none" || s.signer));
}

await step("attestation client (HTTP)", () => attestationClient(HTTP_URL));
if (env.SIM_URL) await step("runtime data through the SDK (simulated quote)", () => runtimeData(env.SIM_URL));
else console.log("SKIP interop/sdk runtime data: no SIM_URL (attest sim not available)");
await step("administration client (HTTPS)", () => adminAad(TLS_URL));
await step("administration client (HTTPS, isolated)", () => adminIsolated(ISO_URL));
console.log(`interop/sdk: ${passed} passed, ${failed} failed`);
process.exit(failed || !passed ? 1 : 0);
