/**
 * Dashboard users' names and passwords: the rules the API, the configuration and the CLI share.
 * A user name goes into URLs, cookies' sessions and audit entries (`user:NAME`), so its alphabet is
 * conservative: letters, digits, ".", "_", "@" and "-", starting with a letter or digit, never "..".
 */
const USERNAME_MAX_LENGTH = 64;
export const PASSWORD_MIN_LENGTH = 10;
/** Long enough for any passphrase, short enough that hashing it stays cheap. */
export const PASSWORD_MAX_LENGTH = 1024;

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

/** What is wrong with a user name, or null when it is valid. */
export function usernameProblem(name: string): string | null {
  if (!USERNAME.test(name) || name.includes('..')) {
    return `a user name is 1 to ${USERNAME_MAX_LENGTH} letters, digits, ".", "_", "@" or "-", starting with a letter or digit`;
  }
  return null;
}

/** What is wrong with a new password, or null when it is acceptable. */
export function passwordProblem(password: string): string | null {
  if (password.length < PASSWORD_MIN_LENGTH)
    return `a password has at least ${PASSWORD_MIN_LENGTH} characters`;
  if (password.length > PASSWORD_MAX_LENGTH)
    return `a password has at most ${PASSWORD_MAX_LENGTH} characters`;
  return null;
}
