// Parses an AsyncAPI document with the maintained AsyncAPI parser (@asyncapi/parser) and its
// protobuf schema parser, as integrators' tools do. Prints every diagnostic; exits 1 when the
// document has an error. On success prints one line per message:
//   message <channel address> <message title> <payload title>
// Used by tests/tests/asyncapi.rs: node tools/asyncapi/validate.mjs docs/asyncapi.yaml
import { readFileSync } from 'node:fs';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';
import { ProtoBuffSchemaParser } from '@asyncapi/protobuf-schema-parser';

const file = process.argv[2];
if (!file) {
  console.error('usage: node validate.mjs <asyncapi.yaml>');
  process.exit(2);
}
const parser = new Parser();
parser.registerSchemaParser(ProtoBuffSchemaParser());
const { document, diagnostics } = await parser.parse(readFileSync(file, 'utf8'), { source: file });
let errors = 0;
for (const d of diagnostics) {
  const level = d.severity === DiagnosticSeverity.Error ? 'error' : 'note';
  if (d.severity === DiagnosticSeverity.Error) errors += 1;
  console.log(`${level} ${d.code} at ${(d.path || []).join('.')}: ${d.message}`);
}
if (!document || errors > 0) {
  console.log(`${errors} error(s): the document is not valid AsyncAPI`);
  process.exit(1);
}
for (const channel of document.channels().all()) {
  for (const message of channel.messages().all()) {
    const payload = message.payload();
    console.log(`message ${channel.address()} ${message.title()} ${payload ? payload.title() : '-'}`);
  }
}
console.log(`asyncapi ${document.version()}: ${document.channels().all().length} channels, ${document.messages().all().length} messages`);
