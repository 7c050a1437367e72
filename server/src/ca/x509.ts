/**
 * The one place that loads @peculiar/x509. Version 2.x needs a Reflect polyfill loaded before it
 * (its dependency container, tsyringe, throws at import without one), and the crypto provider is
 * set explicitly so behaviour is the same under Node, Electron and tests.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// Node's webcrypto is the DOM Crypto; the cast bridges @types/node and the DOM typings x509 uses.
x509.cryptoProvider.set(webcrypto as never);

export { x509 };
