#!/usr/bin/env python3
"""make_tokenizer_goldens.py — golden token ids from transformers' slow CLIPTokenizer.

Builds a CLIPTokenizer from the vocabulary file shipped in data/clip/ (converted to the
vocab.json + merges.txt pair transformers reads), tokenizes a fixed list of prompts plus a
seeded batch of random ones, and writes tests/golden/tokenizer.json for
tests/test_clip_tokenizer.c. Needs: transformers, ftfy==6.1.1 (kohya's pin; with ftfy
installed the slow tokenizer cleans text with ftfy.fix_text, which is the path SD trainers
take), regex (comes with transformers).

    tools/oracle/.venv/bin/python tools/oracle/make_tokenizer_goldens.py

Prompts whose text ftfy would repair as mojibake (fix_encoding) are marked "mojibake": the C
tokenizer does not emulate that heuristic, so the C test skips them and reports the count.
"""
import gzip
import hashlib
import json
import os
import random
import sys
import tempfile

import ftfy
import regex
import transformers
from transformers import CLIPTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VOCAB_GZ = os.path.join(ROOT, "data", "clip", "bpe_simple_vocab_16e6.txt.gz")
OUT = os.path.join(ROOT, "tests", "golden", "tokenizer.json")
N_MERGES = 49152 - 256 - 2  # merges CLIP uses: lines 1..48894 after the header


def byte_chars():
    """The 256 byte symbols in vocabulary order (CLIP's bytes_to_unicode, documented facts):
    printable bytes 33..126, 161..172, 174..255 keep their code point; the other 68 bytes, in
    increasing order, get U+0100, U+0101, ..."""
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    order = list(keep)
    chars = [chr(b) for b in keep]
    extra = 0
    for b in range(256):
        if b not in keep:
            order.append(b)
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def build_tokenizer(tmpdir):
    text = gzip.open(VOCAB_GZ).read().decode("utf-8")
    merges = text.split("\n")[1 : 1 + N_MERGES]
    chars = byte_chars()
    vocab = chars + [c + "</w>" for c in chars] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == 49408 and len(set(vocab)) == 49408
    vpath = os.path.join(tmpdir, "vocab.json")
    mpath = os.path.join(tmpdir, "merges.txt")
    with open(vpath, "w", encoding="utf-8") as f:
        json.dump({s: i for i, s in enumerate(vocab)}, f, ensure_ascii=False)
    with open(mpath, "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    # SD1 / SDXL-L: pad = <|endoftext|>; SD2 / SDXL-bigG (kohya): pad = "!" (id 0).
    tok = CLIPTokenizer(vpath, mpath)
    tok_pad0 = CLIPTokenizer(vpath, mpath, pad_token="!")
    if tok.fix_text is None:
        sys.exit("ftfy is not importable: the tokenizer would take the BasicTokenizer path")
    assert tok.pad_token_id == 49407 and tok_pad0.pad_token_id == 0
    return tok, tok_pad0


HAND_PROMPTS = [
    "a photo of a cat",
    "A  Photo, of 2 CATS!!",
    "(masterpiece:1.2), best quality",
    "",
    "   ",
    "1girl, solo, long hair, looking at viewer, smile, blue eyes, blonde hair, shirt, white background",
    "1boy, male focus, short hair, black hair, jacket, upper body, simple background",
    "masterpiece, best quality, ultra-detailed, 8k, highres, absurdres",
    "sks dog sitting on a red couch",
    "ohwx man wearing a suit, portrait, studio lighting",
    "photo of zwx woman, 35mm, f/1.8, bokeh",
    "numbers 1234 and 3.14 and 1,000,000 and -42 and 007",
    "year 2023, 4k uhd, 16:9 aspect ratio",
    "it's a dog's life, they're here, we've been, I'm ok, you'll see, he'd go, don't",
    "IT'S LOUD, THEY'RE HERE, WE'VE DONE IT, I'M HERE, YOU'LL SEE, HE'D GO, DON'T",
    "'s 't 're 've 'm 'll 'd",
    "rock'n'roll, o'clock, ma'am",
    "wow!!! really??? ... --- *** ### $$$ %%% ^^^ &&& ~~~",
    "a,b;c:d.e!f?g",
    "(((best quality))), [[worst]], {curly}, <angle>",
    "\\(escaped\\) \\[brackets\\]",
    "tabs\tand\nnewlines\r\nand\u3000ideographic space",
    "  leading and trailing spaces   ",
    "many     spaces    between",
    "caf\u00e9, na\u00efve, r\u00e9sum\u00e9, Z\u00fcrich, S\u00e3o Paulo, \u00c5ngstr\u00f6m",
    "cafe\u0301 decomposed e-acute (NFD)",
    "Stra\u00dfe, \u00e6sthetic, \u0153uvre, \u00f8l",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8, \u4e2d\u6587\u63d0\u793a\u8bcd, \ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8",
    "\u30a2\u30cb\u30e1\u306e\u5973\u306e\u5b50, \u9752\u3044\u76ee",
    "\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440, \u0395\u039b\u039b\u0397\u039d\u0399\u039a\u0391 \u039f\u0394\u039f\u03a3",
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u05e2\u05d1\u05e8\u05d9\u05ea \u0939\u093f\u0928\u094d\u0926\u0940 \u0e44\u0e17\u0e22",
    "emoji \U0001F600 \U0001F44D\U0001F3FD \u2764\ufe0f \U0001F1EF\U0001F1F5 \U0001F468\u200d\U0001F469\u200d\U0001F467",
    "cute cat \U0001F431\U0001F431\U0001F431 and dog \U0001F436",
    "HTML &amp; entities &lt;b&gt; &quot;quoted&quot; &#39;single&#39; &#x27;hex&#x27; &nbsp;nbsp",
    "double escaped &amp;amp; and &AMP; and &EACUTE;",
    "entities with a tag <b>&amp;</b> are not unescaped",
    "first line &amp; ok\nsecond line <tag> &amp; not\nthird &amp; also not",
    "&#59; &#0; &#128; &#x1F600; &#99999999; &unknownentity; &amp",
    "ligatures \ufb01ne \ufb02ow \ufb03 \u0132 \u01c4",
    "\uff26\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48 \uff21\uff22\uff23 \uff11\uff12\uff13 \uff77\uff9e\uff80\uff70",
    "curly \u2018single\u2019 and \u201cdouble\u201d quotes, it\u2019s",
    "C1 controls \u0085 \u0093x\u0094 \u0080",
    "control \x00 \x07 \x1b[31mred\x1b[0m \x7f \ufeff bom",
    "zero\u200bwidth joiner\u200d and non-breaking\u00a0space",
    "Mixed CaSe WoRdS And ALLCAPS",
    "\u0130stanbul \u0130I, \u039f\u0394\u039f\u03a3 \u03a3\u039f\u03a6\u0399\u0391\u03a3",
    "long s \u017ftraight, it'\u017f, kelvin \u212a",
    "<|startoftext|>explicit specials<|endoftext|>",
    "a<|endoftext|>b <|ENDOFTEXT|> x<<|endoftext|>",
    "dotted.words, under_scores, hyphen-ated, slash/ed, back\\slash",
    "email@example.com https://example.com/path?q=1&x=2",
    "superscripts x\u00b2 \u00bd \u2165 \u2460 \u0663\u0664 \u0967",
    "math \u221a\u03c0 \u2248 3.14159 \u00b1 0.001 \u00d7 10\u207b\u00b3",
    "currency $5 \u20ac10 \u00a320 \u00a5100 \u20b9",
    "a" * 80,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "x " * 90,
    ", ".join(["tag%d" % i for i in range(60)]),
    "1girl, solo, long hair, breasts, looking at viewer, blush, smile, short hair, open mouth, bangs, "
    "blue eyes, simple background, brown hair, shirt, black hair, hair ornament, red eyes, long sleeves, "
    "white background, dress, bow, holding, jewelry, very long hair, closed mouth, standing, school uniform, "
    "jacket, full body, white shirt, upper body, ponytail, skirt, sidelocks, hairband, earrings, outdoors",
    "A highly detailed digital painting of an ancient castle on a cliff above a stormy sea, dramatic "
    "lighting, volumetric clouds, lightning, crashing waves, by a famous concept artist, trending on "
    "artstation, octane render, unreal engine 5, 8k resolution, cinematic composition, golden hour, "
    "intricate details, sharp focus, award winning photograph, epic scale, matte painting",
    "BREAK is just text here, and so is AND",
    "lora:<lora:myLora:0.8> and embedding:easynegative",
    "score_9, score_8_up, score_7_up, source_anime, rating_safe",
    "-- negative: lowres, bad anatomy, bad hands, text, error, missing fingers, extra digit",
    "\u00ab guillemets \u00bb \u2014 em dash \u2013 en dash \u2026 ellipsis \u2022 bullet",
    "\u2603\u2605\u266a\u2660 symbols \u00a9\u00ae\u2122",
    "sharp s \u1e9e, dz \u01c5 titlecase, \u01f1",
    "combining \u0345 ypogegrammeni \u03b1\u0345 and a\u0308 o\u0308",
    "hangul jamo \u1100\u1161\u11a8 compose to \uac01",
    "ends with apostrophe' and 'starts",
    "\t\n",
    # every Unicode White_Space character, plus U+001C..U+001F (Python isspace only) and
    # U+180E / U+200B / U+FEFF (not whitespace)
    "w" + "w".join(chr(c) for c in [0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680] + list(range(0x2000, 0x200B))
                   + [0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0x1C, 0x1D, 0x1E, 0x1F, 0x180E, 0x200B, 0xFEFF]) + "w",
]


def random_prompts(n, seed):
    """Seeded random prompts mixing the hard cases: whitespace kinds, entities, width forms,
    ligatures, quotes, combining marks, CJK, emoji, digits, punctuation runs, specials."""
    rng = random.Random(seed)
    pieces = [
        "cat", "Dog", "HOUSE", "a", "the", "1girl", "solo", "smile", "blue", "eyes", "it's",
        "they're", "WE'VE", "I'M", "o'", "'ll", "'d", "'S", "'t", "rock'n'roll",
        "0", "12", "345", "3.14", "1e9", "2024",
        ",", ", ", ".", "!!", "?!", "...", "(", ")", "[", "]", ":", "::", "\\", "/", "-", "_", "--",
        "#", "@", "&", "*", "+", "=", "%", "$", "~", "^", "|", "<", ">", "{", "}", '"', "'", "`",
        " ", "  ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u2003", "\u3000", "\u2028", "\x85",
        "\x0b", "\x0c", "\x1c", "\x1f",
        "&amp;", "&amp;amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&#x41;", "&eacute;", "&EACUTE;",
        "&nbsp;", "&hellip;", "&copy;", "&bogus;", "&#59;", "&",
        "\uff21", "\uff41\uff42", "\uff11", "\uff01", "\uff71", "\uffe0",
        "\ufb01", "\ufb00", "\u0133", "\u01c6",
        "\u2018", "\u2019", "\u201c", "\u201d", "\u02bc",
        "e\u0301", "\u00e9", "A\u030a", "\u00c5", "o\u0308", "n\u0303", "\u0301", "\u0345",
        "\u00df", "\u0130", "\u03a3", "\u03a3\u03b1", "\u03b1\u03a3", "\u017f", "\u212a", "\u01c5",
        "\u65e5\u672c", "\u8a9e", "\u30c6\u30b9\u30c8", "\ud55c\uad6d", "\u1100\u1161",
        "\u0627\u0644", "\u05e9\u05dc\u05d5\u05dd", "\u0928\u092e\u0938\u094d\u0924\u0947",
        "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35", "\u041c\u043e\u0441\u043a\u0432\u0430",
        "\U0001F600", "\U0001F44D\U0001F3FB", "\u2764\ufe0f", "\U0001F1FA\U0001F1F8",
        "\U0001F9D1\u200d\U0001F4BB", "\u200b", "\u200d", "\ufeff", "\x00", "\x07", "\x7f",
        "\x1b[1m", "\x80", "\x93", "\u00b2", "\u00bd", "\u2167", "\u0663", "\u00aa", "\u00ba",
        "<|endoftext|>", "<|startoftext|>", "<|ENDOFTEXT|>",
    ]
    out = []
    for _ in range(n):
        k = rng.randint(1, 14)
        out.append("".join(rng.choice(pieces) for _ in range(k)))
    return out


def is_mojibake_case(text):
    """True when ftfy's encoding repair changes the text (the C tokenizer skips that step).
    Checked per piece, as transformers cleans the text between special tokens separately."""
    for piece in regex.split(r"<\|startoftext\|>|<\|endoftext\|>", text):
        if ftfy.fix_text(piece) != ftfy.fix_text(piece, fix_encoding=False):
            return True
    return False


def kohya_chunks(tok, text, max_token_length):
    """kohya _get_input_ids for max_token_length 150/225 (kohya-spec.md 3.7): HF tokenizer with
    padding/truncation to max_token_length+2, cut into 75-token windows re-wrapped with the first
    and last id; pad != eos gets the two fix-ups."""
    pad_id = tok.pad_token_id
    max_length = max_token_length + 2
    ids = tok(text, padding="max_length", truncation=True, max_length=max_length)["input_ids"]
    chunks = []
    for i in range(1, max_length - 77 + 2, 75):
        chunk = [ids[0]] + ids[i : i + 75] + [ids[-1]]
        if pad_id != tok.eos_token_id:
            if chunk[-2] != tok.eos_token_id and chunk[-2] != pad_id:
                chunk[-1] = tok.eos_token_id
            if chunk[1] == pad_id:
                chunk[1] = tok.eos_token_id
        chunks.append(chunk)
    return chunks


def main():
    with tempfile.TemporaryDirectory() as tmp:
        tok, tok_pad0 = build_tokenizer(tmp)
        hand = HAND_PROMPTS
        rand = random_prompts(200, seed=1234)
        entries = []
        for idx, text in enumerate(hand + rand):
            ids = tok(text, add_special_tokens=False)["input_ids"]
            e = {"text": text, "ids": ids}
            if "\x00" in text:
                # C JSON strings stop at NUL: give the exact UTF-8 bytes as hex as well.
                e["utf8_hex"] = text.encode("utf-8").hex()
            if is_mojibake_case(text):
                e["mojibake"] = True
            if idx < len(hand) and idx % 6 == 0:
                # HF padding="max_length", truncation=True, max_length=77 (SD1: pad = EOS).
                e["padded77"] = tok(text, padding="max_length", truncation=True, max_length=77)["input_ids"]
            entries.append(e)
        kohya = []
        long_texts = [hand[i] for i in range(len(hand)) if len(entries[i]["ids"]) > 60] + [hand[0]]
        for text in long_texts:
            for mtl in (150, 225):
                for t in (tok, tok_pad0):
                    kohya.append({"text": text, "max_token_length": mtl, "pad": t.pad_token_id,
                                  "chunks": kohya_chunks(t, text, mtl)})
        vocab_sha = hashlib.sha256(open(VOCAB_GZ, "rb").read()).hexdigest()
    doc = {
        "generator": "tools/oracle/make_tokenizer_goldens.py",
        "transformers": transformers.__version__,
        "ftfy": ftfy.__version__,
        "regex": regex.__version__,
        "vocab_gz_sha256": vocab_sha,
        "prompts": entries,
        "kohya": kohya,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=True, indent=None, separators=(",", ":"))
        f.write("\n")
    n_moj = sum(1 for e in entries if e.get("mojibake"))
    print(f"wrote {OUT}: {len(entries)} prompts ({n_moj} mojibake-marked), {len(kohya)} kohya cases")


if __name__ == "__main__":
    main()
