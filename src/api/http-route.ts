import type http from 'node:http';

/** An HTTP route served beside the API (the web page, CRLs). Returns false to fall through. */
export type HttpRoute = (request: http.IncomingMessage, response: http.ServerResponse) => boolean | Promise<boolean>;
