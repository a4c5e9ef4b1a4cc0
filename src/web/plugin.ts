import { definePlugin } from '../api/define-plugin.js';
import { webRoutes } from './routes.js';

/** The Certificates web page served at `/`; it has no methods of its own and uses the API like any client. */
export const webPlugin = definePlugin({
  namespace: 'web',
  description: 'The web page at / (the Certificates screen).',
  methods: [],
  routes: webRoutes,
});
