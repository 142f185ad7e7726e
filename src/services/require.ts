import { errors } from '../errors.js';
import type { Repos } from '../db/index.js';

/**
 * Fails with a 404 unless the app exists. Takes the repositories explicitly: inside a transaction
 * it must be the transaction's, since SQLite's single connection would wait on itself otherwise.
 */
export async function requireApp(repos: Repos, appId: string): Promise<void> {
  if (!(await repos.apps.find(appId))) throw errors.appNotFound({ appId });
}
