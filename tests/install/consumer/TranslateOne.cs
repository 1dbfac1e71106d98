// Translates one sentence with the model given on the command line, from the installed Tusk.dll;
// prints the assembly's version beside the library's on stderr.
using System;
using Tusk;

class TranslateOne {
  static void Main(string[] args) {
    using (var model = new Model(args[0]))
    using (var tr = new Translator(model, new TranslatorOptions())) {
      Console.WriteLine(tr.Translate(new[] { "A dog runs." }, "en", "de")[0]);
    }
    Console.Error.WriteLine("Tusk.dll " + typeof(Model).Assembly.GetName().Version + ", libtusk " + Model.Version);
  }
}
