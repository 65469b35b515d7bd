import http from 'node:http';
import { createIdTokenVerifier, IdTokenError } from '@ecamo/verify';

const verifier = createIdTokenVerifier({
  ecamoOrigin: process.env.ECAMO_ORIGIN!, // ecamo's canonical origin, e.g. https://ecamo.corp.example
  audience: process.env.SOURCE_ORIGIN!, // this source's own origin, as in the image URLs
  // Optional: where ecamo's keys are, if not at ${ecamoOrigin}/.well-known/jwks.json.
  jwksUrl: process.env.ECAMO_JWKS_URL,
});

const server = http.createServer(async (req, res) => {
  try {
    const { serviceOrigin } = await verifier.verify(req.headers.authorization);
    res.writeHead(200, { 'content-type': 'image/svg+xml' });
    res.end(`<svg xmlns="http://www.w3.org/2000/svg" width="300" height="30"><text y="20">for ${serviceOrigin}</text></svg>`);
  } catch (error) {
    // IdTokenError: refused (status 401) or ecamo's keys unreachable (503), with a stable code.
    const refused = error instanceof IdTokenError;
    res.writeHead(refused ? error.status : 500, { 'x-ecamo-error': refused ? error.code : 'internal' }).end();
  }
});
server.listen(Number(process.env.PORT ?? 8080), () => console.log('source listening on', server.address()));
