/**
 * SHA-256 of a text, one-shot (Node 20.12+) where there is: without a Hash object it costs about
 * half as much, and a debit hashes its key once per day of the window and its body once. The
 * one digest every key, body and link hash of burnrate goes through.
 */
import * as crypto from 'node:crypto';

const oneShotHash = (crypto as { hash?: typeof crypto.hash }).hash;
export const sha256: (text: string, encoding: 'hex' | 'base64') => string = oneShotHash
  ? (text, encoding) => oneShotHash('sha256', text, encoding)
  : (text, encoding) => crypto.createHash('sha256').update(text).digest(encoding);
