// Makes the SentencePiece-style BPE fixtures (Llama 2 / TinyLlama layout: normalizer Prepend("▁") +
// Replace(" ", "▁"), no pre-tokenizer, BPE with byte fallback to <0xNN> tokens) with Hugging Face's own
// `tokenizers` library. Run from this directory:
//   npm install tokenizers@0.23.2 && node make-sentencepiece-fixtures.js
// Writes sentencepiece-bpe.json (a tokenizer.json) and sentencepiece-bpe.cases.json (text -> ids), and the
// same vocabulary in the newer (transformers legacy=false) layout: no normalizer, a Metaspace pre-tokenizer
// that prepends "▁" only at the start of the input, as sentencepiece-metaspace.json (+ .cases.json).
const fs = require('fs');
const t = require('tokenizers');

const llamaDecoder = () =>
  t.sequenceDecoder([t.replaceDecoder('▁', ' '), t.byteFallbackDecoder(), t.fuseDecoder(), t.stripDecoder(' ', 1, 0)]);
const normalizer = () => t.sequenceNormalizer([t.prependNormalizer('▁'), t.replace(' ', '▁')]);

// 1. Learn merges on the corpus, as SentencePiece would: whole normalized lines, no pre-tokenizer.
const trained = new t.Tokenizer(t.BPE.empty());
trained.setNormalizer(normalizer());
trained.train(['corpus.txt']);
trained.save('trained.tmp.json', false);
const m = JSON.parse(fs.readFileSync('trained.tmp.json', 'utf8')).model;
fs.unlinkSync('trained.tmp.json');

// 2. Llama's layout: <unk>, <s>, </s>, then the 256 byte tokens, then the learned pieces.
const vocab = { '<unk>': 0, '<s>': 1, '</s>': 2 };
for (let b = 0; b < 256; b++) vocab['<0x' + b.toString(16).toUpperCase().padStart(2, '0') + '>'] = 3 + b;
let next = 259;
for (const [piece] of Object.entries(m.vocab).sort((a, b) => a[1] - b[1])) if (!(piece in vocab)) vocab[piece] = next++;
const merges = m.merges.map(p => (Array.isArray(p) ? p : p.split(' ')));

const tok = new t.Tokenizer(t.BPE.init(vocab, merges, { byteFallback: true, unkToken: '<unk>', fuseUnk: true }));
tok.setNormalizer(normalizer());
tok.setDecoder(llamaDecoder());
tok.addSpecialTokens(['<unk>', '<s>', '</s>']);
tok.save('sentencepiece-bpe.json', true);

// 3. Tricky strings: characters the corpus never showed (byte fallback), spaces, specials.
const cases = [
  'hello world', 'The quick brown fox jumps over the lazy dog.', ' leading space', 'trailing space ', 'two  spaces',
  'tabs\tand\nnewlines\n', "It's we're they'll", 'numbers 1234567890 3.14159', 'café naïve Straße', '東京 Москва مرحبا',
  'emoji 🙂🚀 and 👩‍💻', 'unseen ǅ ꙮ ∰', '<s>hello</s>', 'a</s>b<s>', 'code: for (int i = 0; i < n; i++)', 'x', '  ',
  'mixed123abc456', 'price:\u00a0100\u00a0EUR',
];

// 4. The Metaspace layout of the same model (Mistral's tokenizer.json: Llama's decoder is kept).
const meta = new t.Tokenizer(t.BPE.init(vocab, merges, { byteFallback: true, unkToken: '<unk>', fuseUnk: true }));
meta.setPreTokenizer(t.metaspacePreTokenizer('▁', 'first', false));
meta.setDecoder(llamaDecoder());
meta.addSpecialTokens(['<unk>', '<s>', '</s>']);
meta.save('sentencepiece-metaspace.json', true);
// With split = true (words cut before each "▁"): only the cases are kept; the test flips the flag in the file.
const metaSplit = new t.Tokenizer(t.BPE.init(vocab, merges, { byteFallback: true, unkToken: '<unk>', fuseUnk: true }));
metaSplit.setPreTokenizer(t.metaspacePreTokenizer('▁', 'first', true));
metaSplit.setDecoder(llamaDecoder());
metaSplit.addSpecialTokens(['<unk>', '<s>', '</s>']);

async function record(tk, file) {
  const out = [];
  for (const text of cases) {
    const enc = await tk.encode(text);
    const ids = enc.getIds();
    out.push({ text, ids, tokens: enc.getTokens(), decoded: await tk.decode(ids, true) });
  }
  fs.writeFileSync(file, JSON.stringify({ library: 'tokenizers (npm) 0.23.2', cases: out }, null, 1));
  return out.length;
}
(async () => {
  const n = await record(tok, 'sentencepiece-bpe.cases.json');
  await record(meta, 'sentencepiece-metaspace.cases.json');
  await record(metaSplit, 'sentencepiece-metaspace-split.cases.json');
  console.log(`vocab ${Object.keys(vocab).length}, merges ${merges.length}, ${n} cases in each layout`);
})();
