"""The smallest complete Python program using Tusk (the binding's README shows it)."""
import sys

import tusk

model_path = sys.argv[1] if len(sys.argv) > 1 else "models/multi30k-moe.tusk"
with tusk.Translator(model_path, beam_size=4, threads=2) as translator:
    sentences = ["A man rides a bike down the street.", "Two dogs play in the snow."]
    for line in translator.translate(sentences, src="en", tgt="de"):
        print(line)
