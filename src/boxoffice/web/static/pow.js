// Proof of work before a place in line: a line may ask a fan's browser to solve an
// ALTCHA v1 challenge (find n with SHA-256(salt + n) = challenge) before it gives a
// place. The range [0, maxnumber] is split between workers, one a core (up to
// MAX_WORKERS), so a fan waits the least the device allows; the first to find n wins.
const WORKER = new URL("./pow-worker.js", import.meta.url);
const MAX_WORKERS = 4;

/** Solve challenge ({algorithm, challenge, salt, maxnumber, signature}); resolves to
 * the base64 payload the line takes as proof. onProgress(fraction) is told the share
 * of the range tried so far. Rejects when no number fits (a challenge not made right). */
export function solve(challenge, onProgress = () => {}) {
  const { algorithm, salt, maxnumber, signature } = challenge;
  const count = Math.max(1, Math.min(navigator.hardwareConcurrency || 1, MAX_WORKERS));
  const total = maxnumber + 1;
  const tried = new Array(count).fill(0);
  const workers = [];
  let pending = count;
  return new Promise((resolve, reject) => {
    const done = () => workers.forEach((worker) => worker.terminate());
    for (let i = 0; i < count; i++) {
      const worker = new Worker(WORKER);
      workers.push(worker);
      worker.onmessage = ({ data }) => {
        if (data.tried !== undefined) {
          tried[i] = data.tried;
          onProgress(Math.min(1, tried.reduce((a, b) => a + b, 0) / total));
        }
        if (data.number === undefined) return;
        if (data.number !== null) {
          done();
          const payload = { algorithm, challenge: challenge.challenge, number: data.number, salt, signature };
          resolve(btoa(JSON.stringify(payload)));
        } else if (--pending === 0) {
          done();
          reject(new Error("no number solves this challenge"));
        }
      };
      worker.onerror = (event) => {
        event.preventDefault();
        done();
        reject(new Error(event.message || "the challenge's worker failed"));
      };
      const start = Math.floor((i * total) / count);
      const end = Math.floor(((i + 1) * total) / count) - 1;
      worker.postMessage({ salt, challenge: challenge.challenge, start, end });
    }
  });
}
