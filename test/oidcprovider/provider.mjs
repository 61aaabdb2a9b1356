// An OpenID Connect provider for wharf's tests: the npm package
// oidc-provider (a certified implementation), configured here and nothing
// more. Its built-in development login accepts any password for the name
// given; the accounts it knows, their e-mail, groups and whether they are
// disabled, are read from ACCOUNTS_FILE at every request, so a test changes
// a user by rewriting the file. Settings come from the environment:
//
//   OIDC_PROVIDER_MODULE  path of the oidc-provider package (lib/index.js)
//   PORT, ISSUER          where it listens (loopback) and its issuer URL
//   CLIENT_ID, CLIENT_SECRET, REDIRECT_URI   the one client, wharf
//   ACCOUNTS_FILE         {"alice": {"email": "...", "groups": [...], "disabled": false}}
import { readFileSync } from 'node:fs';

const { default: Provider } = await import(process.env.OIDC_PROVIDER_MODULE);

function account(id) {
  let all;
  try {
    all = JSON.parse(readFileSync(process.env.ACCOUNTS_FILE, 'utf8'));
  } catch {
    return undefined;
  }
  const a = all[id];
  if (!a || a.disabled) return undefined;
  return a;
}

const provider = new Provider(process.env.ISSUER, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
    response_types: ['code'],
  }],
  pkce: { required: () => true },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    userinfo: { enabled: true },
  },
  // A refresh token for every client that may use one, so that wharf's
  // identity check can ask about the user later.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  ttl: { AccessToken: 600, IdToken: 600, RefreshToken: 86400, Session: 3600, Grant: 86400, DeviceCode: 600, Interaction: 600 },
  async findAccount(ctx, id) {
    const a = account(id);
    if (!a) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: id, email: a.email, email_verified: true, groups: a.groups || [] };
      },
    };
  },
  cookies: { keys: ['wharf-test-cookie-key'] },
});
provider.listen(Number(process.env.PORT), '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${process.env.ISSUER}`);
});
