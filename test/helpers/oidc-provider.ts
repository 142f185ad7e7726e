import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider';

/**
 * A real OpenID provider for the tests: the certified `oidc-provider`, on a loopback port, with its
 * development sign-in and consent pages (any password is accepted for an account it knows). Its
 * accounts and their groups can be changed between sign-ins. `misbehave` makes it issue ID tokens
 * that a relying party must refuse, signed with its real key: for another client (a wrong audience)
 * or already expired, the way a broken or hostile provider would; or sends the browser back with
 * another state than the one it was given (what a forged callback link brings).
 */

interface TestAccount {
  email: string;
  email_verified?: boolean;
  preferred_username?: string;
  groups: string[];
}

export interface TestProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  accounts: Map<string, TestAccount>;
  misbehave: 'no' | 'wrong-audience' | 'expired' | 'wrong-state';
  close(): Promise<void>;
}

const OTHER_CLIENT_ID = 'another-app';

/**
 * Starts the provider. `host`: the name in its issuer URL (it listens on 127.0.0.1 either way);
 * `localhost` makes it another site than a server on 127.0.0.1, as a real provider is.
 */
export async function startTestProvider(options: {
  port: number;
  redirectUris: string[];
  host?: string;
}): Promise<TestProvider> {
  const issuer = `http://${options.host ?? '127.0.0.1'}:${options.port}`;
  const accounts = new Map<string, TestAccount>();
  const clientId = 'overair';
  const clientSecret = 'overair-test-client-secret-0123456789';
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const configuration: Configuration = {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: options.redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
      {
        client_id: OTHER_CLIENT_ID,
        client_secret: 'another-app-secret-0123456789abcdef',
        redirect_uris: ['http://127.0.0.1:1/callback'],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test-key', alg: 'RS256', use: 'sig' }] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['preferred_username'],
      groups: ['groups'],
    },
    scopes: ['openid', 'email', 'profile', 'groups'],
    // The claims go into the ID token (as Keycloak, Entra or Okta can be told to), not only userinfo.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => true },
    async findAccount(_ctx, id) {
      const account = accounts.get(id);
      if (!account) return undefined;
      return {
        accountId: id,
        claims: () => ({ sub: id, email_verified: true, ...account }),
      };
    },
  };
  const provider = new Provider(issuer, configuration);
  const state: TestProvider = {
    issuer,
    clientId,
    clientSecret,
    accounts,
    misbehave: 'no',
    close: async () => {},
  };
  provider.use(async (ctx: KoaContextWithOIDC, next) => {
    await next();
    const location = String(ctx.response.get('location') ?? '');
    if (state.misbehave === 'wrong-state' && options.redirectUris.some((uri) => location.startsWith(uri))) {
      const back = new URL(location);
      back.searchParams.set('state', 'A'.repeat(43));
      ctx.response.set('location', back.href);
    }
    const body = ctx.body as { id_token?: string } | undefined;
    if (ctx.oidc?.route !== 'token' || state.misbehave === 'no' || !body?.id_token) return;
    const issued = JSON.parse(Buffer.from(body.id_token.split('.')[1]!, 'base64url').toString()) as object;
    const client =
      state.misbehave === 'wrong-audience' ? await provider.Client.find(OTHER_CLIENT_ID) : ctx.oidc.client;
    const token = new provider.IdToken({}, { ctx, client });
    for (const [claim, value] of Object.entries(issued)) {
      if (!['aud', 'exp', 'iat', 'iss', 'azp'].includes(claim)) token.set(claim, value);
    }
    const now = Math.floor(Date.now() / 1000);
    body.id_token = await token.issue({
      use: 'idtoken',
      // Ten minutes ago: well past any clock tolerance.
      ...(state.misbehave === 'expired' && { expiresAt: now - 600 }),
    });
  });
  const server = http.createServer(provider.callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}
