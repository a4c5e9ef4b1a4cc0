import { UsersAndCredentials1764000000000 } from './1764000000000-users-and-credentials.js';

/** Every migration, oldest first. Never edit one that has shipped; add a new one. */
export const MIGRATIONS = [UsersAndCredentials1764000000000];
