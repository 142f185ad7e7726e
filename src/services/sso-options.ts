import fs from 'node:fs/promises';
import { ConfigError } from '../config-error.js';
import type { Config } from '../config.js';
import type { SsoOptions } from './sso.js';

/** Where the provider sends the browser back to unless OVERAIR_OIDC_REDIRECT_URL says otherwise. */
const SSO_CALLBACK_PATH = '/api/v1/session/oidc/callback';

/**
 * Single sign-on's options from the configuration, or undefined when it is off. The client secret
 * comes from OVERAIR_OIDC_CLIENT_SECRET or the file OVERAIR_OIDC_CLIENT_SECRET_FILE names (a mounted
 * secret; its trailing newline is not part of it), read once at start.
 */
export async function ssoOptions(config: Config): Promise<SsoOptions | undefined> {
  if (config.oidcIssuer === undefined || config.oidcClientId === undefined) return undefined;
  let clientSecret = config.oidcClientSecret;
  if (config.oidcClientSecretFile !== undefined) {
    try {
      clientSecret = (await fs.readFile(config.oidcClientSecretFile, 'utf8')).replace(/\r?\n$/, '');
    } catch (error) {
      throw new ConfigError(
        `OVERAIR_OIDC_CLIENT_SECRET_FILE: cannot read ${config.oidcClientSecretFile} (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      );
    }
    if (clientSecret === '') throw new ConfigError('OVERAIR_OIDC_CLIENT_SECRET_FILE: the file is empty');
  }
  return {
    issuer: config.oidcIssuer,
    clientId: config.oidcClientId,
    clientSecret,
    // loadConfig made sure that one of the two is set.
    redirectUrl: config.oidcRedirectUrl ?? `${config.publicUrl}${SSO_CALLBACK_PATH}`,
    scopes: config.oidcScopes,
    providerName: config.oidcProviderName,
    allowHttp: config.oidcAllowHttp,
    policy: {
      allowedDomains: config.oidcAllowedDomains,
      allowedGroups: config.oidcAllowedGroups,
      groupsClaim: config.oidcGroupsClaim,
      usernameClaim: config.oidcUsernameClaim,
      rules: config.oidcRoles,
    },
  };
}
