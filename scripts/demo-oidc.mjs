// demo-oidc.mjs - the identity provider of `make demo`: the npm package oidc-provider, set up
// for the OAuth2 client-credentials grant with JWT access tokens (RFC 9068) for one API.
//
//   node scripts/demo-oidc.mjs CONFIG.json
//
// CONFIG.json:
//   {"module_dir": "build/demo-node",                 (where `npm install oidc-provider` ran)
//    "clients": [{"client_id": "enclave-client", "client_secret_file": "...", "roles": ["..."]}],
//    "resources": {"api://attestd": {"scope": "attest", "ttl": 300}, "api://other": {...}}}
//
// A client asks for `resource=api://attestd` (RFC 8707 resource indicator, `attest run
// --resource`); the access token is then a JWT signed RS256 with this provider's key, with
// aud = the resource, client_id, scope and "roles" (the client's roles from CONFIG). A resource
// not in CONFIG is refused (invalid_target). The provider listens on 127.0.0.1 on a free port
// and prints its issuer URL as the first line of stdout; SIGTERM/SIGINT stop it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const main = path.resolve(cfg.module_dir, 'node_modules', 'oidc-provider', 'lib', 'index.js');
const { default: Provider, errors } = await import(pathToFileURL(main).href);

const roles = new Map();
const clients = cfg.clients.map((c) => {
  roles.set(c.client_id, c.roles || []);
  return {
    client_id: c.client_id,
    client_secret: fs.readFileSync(c.client_secret_file, 'utf8').trim(),
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  };
});

// The signing key: fresh for each run, published at the provider's jwks_uri.
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: `demo-${crypto.randomUUID()}`, alg: 'RS256', use: 'sig' };

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [jwk] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // A client-credentials request names its resource; nothing is granted by default.
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource) => {
          const rs = cfg.resources[resource];
          if (!rs) throw new errors.InvalidTarget(`unknown resource ${resource}`);
          return {
            scope: rs.scope || '',
            audience: resource,
            accessTokenTTL: rs.ttl || 300,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    // The roles claim attestd's --auth-roles-claim reads (default "roles").
    extraTokenClaims: (ctx, token) => (token.clientId ? { roles: roles.get(token.clientId) || [] } : undefined),
  });
  provider.on('server_error', (ctx, err) => console.error('oidc-provider: server error:', err));
  provider.on('grant.error', (ctx, err) => console.error(`oidc-provider: token request refused: ${err.message}: ${err.error_description || ''}`));
  provider.on('grant.success', (ctx) => console.error(`oidc-provider: access token issued to ${ctx.oidc.client?.clientId}`));
  server.on('request', provider.callback());
  process.stdout.write(`${issuer}\n`);
});
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => { server.close(); process.exit(0); });
