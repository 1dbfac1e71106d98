// The smallest complete C# program using Tusk (the binding's README shows it).
using System;
using Tusk;

class Translate {
  static void Main(string[] args) {
    string path = args.Length > 0 ? args[0] : "models/multi30k-moe.tusk";
    using (var model = new Model(path))
    using (var tr = new Translator(model, new TranslatorOptions { BeamSize = 4, Threads = 2 })) {
      var input = new[] { "A man rides a bike down the street.", "Two dogs play in the snow." };
      foreach (string line in tr.Translate(input, "en", "de")) Console.WriteLine(line);
    }
  }
}
