import { UsersAndCredentials1764000000000 } from './1764000000000-users-and-credentials.js';
import { Certificates1764100000000 } from './1764100000000-certificates.js';

/** Every migration, oldest first. Never edit one that has shipped; add a new one. */
export const MIGRATIONS = [UsersAndCredentials1764000000000, Certificates1764100000000];
