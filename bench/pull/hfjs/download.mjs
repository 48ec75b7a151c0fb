// Downloads one file from a Hub endpoint with the @huggingface/hub client, as a user of that
// library would: `downloadFile` returns a Blob, whose stream is written to OUTPUT. The library
// does not check the SHA-256; run.sh times sha256sum separately.
// Usage: node download.mjs HUB_URL REPO PATH OUTPUT
import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { downloadFile } from "@huggingface/hub";

const [hubUrl, repo, path, output] = process.argv.slice(2);
if (!output) {
  console.error("usage: node download.mjs HUB_URL REPO PATH OUTPUT");
  process.exit(2);
}

const blob = await downloadFile({ repo, path, hubUrl });
if (blob === null) {
  console.error(`${repo}/${path} was not found at ${hubUrl}`);
  process.exit(1);
}
await pipeline(Readable.fromWeb(blob.stream()), createWriteStream(output));
