// Makes the tokenizer fixtures with Hugging Face's own `tokenizers` library (its Node binding), so the
// Java tokenizer is checked against code nobody here wrote. Run from this directory:
//   npm install tokenizers@0.23.2 && node make-fixtures.js
// Writes byte-level-bpe.json (a tokenizer.json) and byte-level-bpe.cases.json (text -> ids).
const fs = require('fs');
const t = require('tokenizers');

// 1. Train a small byte-level BPE (GPT-2 style: ByteLevel pre-tokenizer with its regex) on corpus.txt.
const trained = new t.Tokenizer(t.BPE.empty());
trained.setPreTokenizer(t.byteLevelPreTokenizer(false, true));
trained.train(['corpus.txt']);
trained.save('trained.tmp.json', false);
const m = JSON.parse(fs.readFileSync('trained.tmp.json', 'utf8')).model;
fs.unlinkSync('trained.tmp.json');

// 2. Every byte must have a token, as in real byte-level vocabularies: add the alphabet's missing ones.
const vocab = m.vocab;
let next = Object.keys(vocab).length;
for (const c of t.byteLevelAlphabet()) if (!(c in vocab)) vocab[c] = next++;
const merges = m.merges.map(p => (Array.isArray(p) ? p : p.split(' ')));

// 3. The final tokenizer, with two special tokens.
const tok = new t.Tokenizer(t.BPE.init(vocab, merges));
tok.setPreTokenizer(t.byteLevelPreTokenizer(false, true));
tok.addSpecialTokens(['<|bos|>', '<|eos|>']);
tok.save('byte-level-bpe.json', true);

// 4. Tricky strings and the ids the library gives them.
const cases = [
  'hello world', 'The quick brown fox jumps over the lazy dog.', ' leading space', 'trailing space ',
  'two  spaces', 'tabs\tand\nnewlines\n\n', "It's we're they'll I've you'd", 'numbers 1234567890 3.14159 1e-5',
  'café naïve Straße', '東京 Москва مرحبا', 'emoji 🙂🚀 and 👩‍💻', '<|bos|>hello<|eos|>', 'a<|eos|>b<|bos|>',
  'code: for (int i = 0; i < n; i++) { s += a[i]; }', 'non\u00a0breaking\u3000spaces', '', ' ', '\n', 'ABC xyz 42!!!',
  'unseen: qqqq zzzz ¿¡', 'mixed123abc456', '   many   spaces   ',
  // Unicode whitespace: where \\s must mean Unicode whitespace for the splits to agree.
  'x \u00a0y', 'a\u00a0\u00a0b', '東京\u3000\u3000大阪', 'price:\u00a0100\u00a0EUR',
];
const out = [];
(async () => {
  for (const text of cases) {
    const enc = await tok.encode(text);
    out.push({ text, ids: enc.getIds(), tokens: enc.getTokens() });
  }
  fs.writeFileSync('byte-level-bpe.cases.json', JSON.stringify({ library: 'tokenizers (npm) 0.23.2', cases: out }, null, 1));
  console.log(`vocab ${Object.keys(vocab).length + 2}, merges ${merges.length}, ${out.length} cases`);
})();
