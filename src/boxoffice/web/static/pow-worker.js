// Solves part of an ALTCHA v1 challenge: the number n in [start, end] whose
// SHA-256(salt + n), in hex, is the challenge. SHA-256 is written out here rather than
// taken from crypto.subtle: a digest there costs a promise each (0.1 to 0.2 M a second
// against 2 to 3 M here for these short messages, bench/.../challenge_cost.py) and
// needs a secure context. The salt's whole 64-byte blocks are hashed once; each n then
// costs one or two compressions of the salt's tail, n's digits and the padding.
//
// In:  {salt, challenge, start, end}. Out: {tried} now and then, then {number} (or
// {number: null} when no n in the range fits). The page ends the worker when done.
"use strict";

const K = Int32Array.of(
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
);
const INITIAL = Int32Array.of(
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
);
const REPORT_EVERY = 1 << 16;
const W = new Int32Array(64);

/** One SHA-256 compression of the 16 words at block[offset..] onto state `from`,
 * written to `to` (which may be `from`). */
function compress(from, block, offset, to) {
  for (let i = 0; i < 16; i++) W[i] = block[offset + i];
  for (let i = 16; i < 64; i++) {
    const x = W[i - 15];
    const y = W[i - 2];
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
  }
  let a = from[0], b = from[1], c = from[2], d = from[3];
  let e = from[4], f = from[5], g = from[6], h = from[7];
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  to[0] = (from[0] + a) | 0;
  to[1] = (from[1] + b) | 0;
  to[2] = (from[2] + c) | 0;
  to[3] = (from[3] + d) | 0;
  to[4] = (from[4] + e) | 0;
  to[5] = (from[5] + f) | 0;
  to[6] = (from[6] + g) | 0;
  to[7] = (from[7] + h) | 0;
}

function wordsOf(bytes, count) {
  const words = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const j = i * 4;
    words[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
  }
  return words;
}

function solve({ salt, challenge, start, end }) {
  const saltBytes = new TextEncoder().encode(salt);
  const full = saltBytes.length - (saltBytes.length % 64);
  const mid = INITIAL.slice();
  for (let at = 0; at < full; at += 64) compress(mid, wordsOf(saltBytes.subarray(at, at + 64), 16), 0, mid);
  const tail = saltBytes.subarray(full);
  const target = Int32Array.from({ length: 8 }, (_, i) => Number.parseInt(challenge.slice(i * 8, i * 8 + 8), 16) | 0);
  const out = new Int32Array(8);
  const bytes = new Uint8Array(128);
  const words = new Int32Array(32);
  let tried = 0;
  let n = start;
  while (n <= end) {
    // One stretch of numbers with as many digits as n: the block layout stays put, so
    // only the digits' bytes change from one n to the next.
    const digits = String(n).length;
    const last = Math.min(end, 10 ** digits - 1);
    const length = tail.length + digits;
    const blocks = length + 9 <= 64 ? 1 : 2;
    bytes.fill(0);
    bytes.set(tail);
    bytes[length] = 0x80;
    const bits = (full + length) * 8;
    const size = blocks * 64;
    bytes[size - 4] = bits >>> 24;
    bytes[size - 3] = bits >>> 16;
    bytes[size - 2] = bits >>> 8;
    bytes[size - 1] = bits;
    const first = tail.length >> 2; // the first word the digits touch
    const through = (length - 1) >> 2; // last word they touch
    words.set(wordsOf(bytes, blocks * 16));
    const digit = new Uint8Array(digits);
    const text = String(n);
    for (let i = 0; i < digits; i++) digit[i] = text.charCodeAt(i);
    for (; n <= last; n++) {
      for (let i = 0; i < digits; i++) bytes[tail.length + i] = digit[i];
      for (let w = first; w <= through; w++) {
        const j = w * 4;
        words[w] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
      }
      compress(mid, words, 0, out);
      if (blocks === 2) compress(out, words, 16, out);
      if (
        out[0] === target[0] && out[1] === target[1] && out[2] === target[2] && out[3] === target[3] &&
        out[4] === target[4] && out[5] === target[5] && out[6] === target[6] && out[7] === target[7]
      ) {
        postMessage({ tried: tried + 1 });
        return n;
      }
      if (++tried % REPORT_EVERY === 0) postMessage({ tried });
      // The next number's digits: add one, carrying.
      let i = digits - 1;
      while (i >= 0 && digit[i] === 0x39) digit[i--] = 0x30;
      if (i >= 0) digit[i]++;
    }
  }
  postMessage({ tried });
  return null;
}

onmessage = (event) => postMessage({ number: solve(event.data) });
