// jwt_keys.mjs - makes the keys for the JWT test, independently of r1:
// an RSA-2048 (RS256) and a P-256 (ES256) key pair and a spare RSA key for
// rotation, with the `jose` package. Writes DIR/private.json (the private
// JWKs) and DIR/jwks.json (the public set r1 serve loads: k-rsa, k-ec).
//   usage: node jwt_keys.mjs DIR
import { writeFileSync } from 'node:fs';
import { exportJWK, generateKeyPair } from 'jose';

const dir = process.argv[2];
const keys = {};
for (const [kid, alg] of [['k-rsa', 'RS256'], ['k-ec', 'ES256'], ['k-next', 'RS256']]) {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    keys[kid] = { alg, public: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }, private: await exportJWK(privateKey) };
}
writeFileSync(`${dir}/private.json`, JSON.stringify(keys));
writeFileSync(`${dir}/jwks.json`, JSON.stringify({ keys: [keys['k-rsa'].public, keys['k-ec'].public] }));
