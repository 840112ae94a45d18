#!/usr/bin/env node
// Local stand-in for the operators' OpenID Connect issuer (Cognito's hosted UI in production), built on
// oidc-provider (panva, OpenID Certified): discovery, JWKS, authorization code + PKCE for public clients,
// JWT access tokens carrying the operator scopes of functions/operator_access.json, RP-initiated logout.
// One seeded operator signs in on a plain login page. Development only: it refuses non-loopback hosts.
//
//   node infra/local_oidc/server.mjs --port 9400 --redirect-uri http://127.0.0.1:5173/
//   (password in LOCAL_OIDC_OPERATOR_PASSWORD; see infra/local_oidc/settings.py for every option)
import { createHash, generateKeyPairSync, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Provider, { errors } from 'oidc-provider';

const here = dirname(fileURLToPath(import.meta.url));
export const ACCESS_FILE = resolve(here, '..', '..', 'functions', 'operator_access.json');
// The resource indicator of the functions API: access tokens for it are JWTs (as Cognito's are).
export const API_RESOURCE = 'urn:voicecall:operator-api';

const escapeHtml = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function isLoopback(host) {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** Scope names the operator routes require (the same file the functions and serverless.yml read). */
export function operatorScopes(prefix = '', file = ACCESS_FILE) {
  const access = JSON.parse(readFileSync(file, 'utf8'));
  return Object.values(access.scopes).map((s) => `${prefix}${s.name}`);
}

function signingKeys(jwksFile) {
  if (jwksFile) return JSON.parse(readFileSync(jwksFile, 'utf8'));
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' }] };
}

const digest = (s) => createHash('sha256').update(String(s), 'utf8').digest();
const sameSecret = (a, b) => timingSafeEqual(digest(a), digest(b));

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title>
<style>body{font:16px system-ui,sans-serif;max-width:22rem;margin:3rem auto;padding:0 1rem}
label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.5rem;box-sizing:border-box}
button{margin-top:1.2rem;padding:.6rem 1.2rem}.error{color:#b00020}.note{color:#666;font-size:.85rem}</style>
</head><body>${body}</body></html>`;
}

function loginPage(uid, clientId, error) {
  return page(
    'Sign in — voicecall (local)',
    `<h1>Operator sign-in</h1>
<p class="note">Local development issuer for <code>${escapeHtml(clientId)}</code> — never use it in production.</p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
<label for="username">Email</label><input id="username" name="username" type="text" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" required>
<button type="submit">Sign in</button></form>`,
  );
}

async function formBody(req, limit = 16_384) {
  let size = 0;
  const chunks = [];
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/**
 * Build the issuer (not listening yet). Options: issuer, clientIds, redirectUris, username, password,
 * accessTokenTtlS, scopePrefix, jwksFile.
 */
export function createIssuer({
  issuer,
  clientIds = ['voicecall-web'],
  redirectUris,
  username = 'operator@voicecall.local',
  password,
  accessTokenTtlS = 900,
  scopePrefix = '',
  jwksFile,
}) {
  if (!password) throw new Error('the dev operator needs a password (LOCAL_OIDC_OPERATOR_PASSWORD)');
  if (!redirectUris?.length) throw new Error('at least one --redirect-uri (the web app URL) is required');
  const scopes = operatorScopes(scopePrefix);
  const account = {
    accountId: `local-${createHash('sha256').update(username).digest('hex').slice(0, 16)}`,
    email: username,
    scopes,
  };
  const origins = new Set(redirectUris.map((u) => new URL(u).origin));

  const provider = new Provider(issuer, {
    clients: clientIds.map((clientId) => ({
      client_id: clientId,
      client_name: clientId,
      token_endpoint_auth_method: 'none', // a browser app: public client, PKCE required
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: redirectUris,
      post_logout_redirect_uris: redirectUris,
    })),
    pkce: { required: () => true },
    scopes: ['openid', 'email', 'profile'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'] },
    // The web app shows who is signed in from the ID token, as it does with Cognito's.
    conformIdTokenClaims: false,
    async findAccount(_ctx, sub) {
      if (sub !== account.accountId) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { sub, email: account.email, email_verified: true, name: 'Dev Operator', preferred_username: account.email };
        },
      };
    },
    // Cognito's access tokens name the user too (claim "username").
    async extraTokenClaims(_ctx, token) {
      return token.kind === 'AccessToken' && token.accountId === account.accountId ? { username: account.email } : undefined;
    },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          // Like Cognito's /logout: no confirmation step.
          ctx.body = page(
            'Signing out',
            `${form}<p>Signing out…</p><button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>
<script>document.querySelector('button[name="logout"]').click();</script>`,
          );
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => API_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo(_ctx, resourceIndicator, client) {
          if (resourceIndicator !== API_RESOURCE) throw new errors.InvalidTarget();
          return {
            scope: scopes.join(' '),
            // aud = the app client, as API Gateway's audience is Cognito's app client id
            audience: client.clientId,
            accessTokenTTL: accessTokenTtlS,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    clientBasedCORS: (_ctx, origin) => origins.has(origin),
    jwks: signingKeys(jwksFile),
    // Plain http on loopback: SameSite=None cookies would need Secure, so browsers would drop them.
    cookies: {
      keys: [randomBytes(32).toString('hex')],
      long: { sameSite: 'lax' },
      short: { sameSite: 'lax' },
    },
    ttl: {
      AccessToken: accessTokenTtlS,
      AuthorizationCode: 60,
      IdToken: accessTokenTtlS,
      Interaction: 600,
      Session: 8 * 3600,
      Grant: 8 * 3600,
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  });
  provider.on('server_error', (_ctx, err) => console.error('local-oidc server_error:', err));

  async function interaction(req, res, uid, isLogin) {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new errors.SessionNotFound('interaction mismatch');
    const clientId = String(details.params.client_id ?? '');
    if (details.prompt.name === 'login') {
      if (!isLogin || req.method !== 'POST') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(loginPage(uid, clientId));
        return;
      }
      const form = await formBody(req);
      if (!sameSecret(form.get('username') ?? '', username) || !sameSecret(form.get('password') ?? '', password)) {
        console.log(`local-oidc: failed sign-in for ${JSON.stringify(form.get('username') ?? '')}`);
        res.writeHead(401, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(loginPage(uid, clientId, 'Wrong email or password.'));
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId: account.accountId } });
      return;
    }
    if (details.prompt.name === 'consent') {
      // First-party app: grant what was asked for, limited to what the operator holds.
      const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = details.prompt.details;
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId });
      if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
      if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
      for (const [indicator, wanted] of Object.entries(missingResourceScopes ?? {})) {
        const held = wanted.filter((s) => account.scopes.includes(s));
        if (held.length) grant.addResourceScope(indicator, held.join(' '));
      }
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return;
    }
    await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'unsupported prompt' });
  }

  const callback = provider.callback();
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const match = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec(path);
    if (!match) {
      callback(req, res);
      return;
    }
    interaction(req, res, match[1], Boolean(match[2])).catch((err) => {
      const status = err?.statusCode ?? 500;
      if (status >= 500) console.error('local-oidc interaction error:', err);
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page('Sign-in error', `<h1>Sign-in error</h1><p>${escapeHtml(err?.error_description ?? err?.message ?? 'error')}</p>`));
    });
  });
  return { server, provider, account, scopes };
}

/** Start listening; resolves with {server, issuer, ...} (port 0 picks a free port unless --issuer fixes it). */
export async function startIssuer({ host = '127.0.0.1', port = 9400, issuer, ...options }) {
  if (!isLoopback(host)) throw new Error(`the local issuer only binds loopback addresses, not ${host}`);
  const url = issuer ?? `http://${host}:${port}`;
  const built = createIssuer({ issuer: url, ...options });
  await new Promise((ok, fail) => {
    built.server.once('error', fail);
    built.server.listen(port, host, ok);
  });
  return { ...built, issuer: url };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '9400' },
      issuer: { type: 'string' },
      client: { type: 'string', multiple: true },
      'redirect-uri': { type: 'string', multiple: true },
      username: { type: 'string', default: process.env.LOCAL_OIDC_OPERATOR_USERNAME ?? 'operator@voicecall.local' },
      'access-token-ttl': { type: 'string', default: '900' },
      'scope-prefix': { type: 'string', default: '' },
      'jwks-file': { type: 'string' },
    },
  });
  const password = process.env.LOCAL_OIDC_OPERATOR_PASSWORD;
  try {
    const { server, issuer, scopes } = await startIssuer({
      host: values.host,
      port: Number(values.port),
      issuer: values.issuer,
      clientIds: values.client?.length ? values.client : ['voicecall-web'],
      redirectUris: values['redirect-uri'] ?? [],
      username: values.username,
      password,
      accessTokenTtlS: Number(values['access-token-ttl']),
      scopePrefix: values['scope-prefix'],
      jwksFile: values['jwks-file'] ? resolve(values['jwks-file']) : undefined,
    });
    console.log(`local OIDC issuer ready at ${issuer} (scopes: ${scopes.join(' ')})`);
    console.log(`dev operator sign-in: ${values.username} / ${password}`);
    for (const sig of ['SIGINT', 'SIGTERM']) {
      process.on(sig, () => {
        server.closeAllConnections?.();
        server.close(() => process.exit(0));
        setTimeout(() => process.exit(0), 2000).unref();
      });
    }
  } catch (err) {
    console.error(`local-oidc: ${err instanceof Error ? err.message : err}`);
    process.exit(2);
  }
}
