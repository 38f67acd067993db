// A real OAuth 2.0 authorization server (panva/oidc-provider) for scimsync's target-authentication
// tests. It listens on 127.0.0.1 only, on a free port, and prints one line
//   LISTENING <issuer>
// when ready. It exits when its stdin closes, so a crashed test binary never leaves it behind.
//
// Configuration comes from one JSON object in the environment variable OAUTHTEST_CONFIG:
//   { "clients": [...oidc-provider client metadata...], "accessTokenTTL": seconds,
//     "refreshTokenTTL": seconds, "adminToken": "..." }
//
// What it is configured for: client credentials, authorization code with PKCE (S256 only, required),
// refresh tokens rotated on every use (oidc-provider revokes the whole grant when a rotated refresh token
// is reused), token introspection (RFC 7662) for the verifying proxy in front of the SCIM target, and
// token revocation. The development login and consent pages (devInteractions) are on, so a test can
// drive the authorize flow headlessly by posting their forms.
//
// Test-only admin endpoints (Authorization: Bearer <adminToken>):
//   POST /admin/expire-access-tokens  forget every access token (the next use is a 401 at the target)
//   POST /admin/revoke-grants         revoke every grant: refresh tokens answer invalid_grant
//   GET  /admin/stats                 counts of token requests by grant type and of invalid_grant answers

import crypto from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

const cfg = JSON.parse(process.env.OAUTHTEST_CONFIG || '{}');

// An in-memory adapter the admin endpoints can see into. oidc-provider's own MemoryAdapter hides its
// storage; this one is a plain Map per model.
const stores = new Map();
function storeFor(name) {
  if (!stores.has(name)) stores.set(name, new Map());
  return stores.get(name);
}
const grants = new Map(); // grantId -> Set of [model, id]

class Adapter {
  constructor(name) {
    this.name = name;
    this.store = storeFor(name);
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : Infinity;
    this.store.set(id, { payload: { ...payload }, expiresAt });
    if (payload.grantId) {
      if (!grants.has(payload.grantId)) grants.set(payload.grantId, new Set());
      grants.get(payload.grantId).add(JSON.stringify([this.name, id]));
    }
  }

  async find(id) {
    const e = this.store.get(id);
    if (!e) return undefined;
    if (e.expiresAt <= Date.now()) {
      this.store.delete(id);
      return undefined;
    }
    return { ...e.payload };
  }

  async findByUid(uid) {
    for (const [id, e] of this.store) {
      if (e.payload.uid === uid) return this.find(id);
    }
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const [id, e] of this.store) {
      if (e.payload.userCode === userCode) return this.find(id);
    }
    return undefined;
  }

  async consume(id) {
    const e = this.store.get(id);
    if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    this.store.delete(id);
  }

  async revokeByGrantId(grantId) {
    revokeGrant(grantId);
  }
}

function revokeGrant(grantId) {
  for (const key of grants.get(grantId) ?? []) {
    const [model, id] = JSON.parse(key);
    storeFor(model).delete(id);
  }
  grants.delete(grantId);
  storeFor('Grant').delete(grantId);
}

const stats = { tokenRequests: {}, invalidGrant: 0 };

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    adapter: Adapter,
    clients: cfg.clients || [],
    scopes: ['openid', 'offline_access', 'scim'],
    clientBasedCORS: () => false,
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
    },
    // Plain OAuth 2.0 (no openid, no offline_access): any client allowed the refresh_token grant gets
    // a refresh token, as SaaS providers do.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => true,
    ttl: {
      AccessToken: cfg.accessTokenTTL || 60,
      ClientCredentials: cfg.accessTokenTTL || 60,
      RefreshToken: cfg.refreshTokenTTL || 3600,
      Grant: 3600,
      Interaction: 600,
      Session: 3600,
      AuthorizationCode: 60,
    },
    loadExistingGrant: async (ctx) => {
      const id = ctx.oidc.result?.consent?.grantId || ctx.oidc.session?.grantIdFor(ctx.oidc.client.clientId);
      return id ? ctx.oidc.provider.Grant.find(id) : undefined;
    },
  });
  provider.on('grant.error', (ctx, err) => {
    if (err && err.error === 'invalid_grant') stats.invalidGrant += 1;
  });
  provider.on('grant.success', (ctx) => {
    const gt = ctx.oidc.params?.grant_type || 'unknown';
    stats.tokenRequests[gt] = (stats.tokenRequests[gt] || 0) + 1;
  });
  const handle = provider.callback();
  server.on('request', (req, res) => {
    if (req.url.startsWith('/admin/')) {
      if (!cfg.adminToken || req.headers.authorization !== `Bearer ${cfg.adminToken}`) {
        res.writeHead(401).end();
        return;
      }
      if (req.method === 'POST' && req.url === '/admin/expire-access-tokens') {
        storeFor('AccessToken').clear();
        storeFor('ClientCredentials').clear();
        res.writeHead(204).end();
        return;
      }
      if (req.method === 'POST' && req.url === '/admin/revoke-grants') {
        for (const id of [...grants.keys()]) revokeGrant(id);
        storeFor('RefreshToken').clear();
        storeFor('AccessToken').clear();
        res.writeHead(204).end();
        return;
      }
      if (req.method === 'GET' && req.url === '/admin/stats') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
        return;
      }
      res.writeHead(404).end();
      return;
    }
    handle(req, res);
  });
  process.stdout.write(`LISTENING ${issuer}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
