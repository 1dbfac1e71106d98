// Translates one sentence with the model given on the command line, from the installed tusk.jar.
import tusk.Model;
import tusk.Translator;

public class TranslateOne {
  public static void main(String[] args) {
    try (Model model = new Model(args[0]);
         Translator tr = new Translator(model, new Translator.Settings())) {
      System.out.println(tr.translate("A dog runs.", "en", "de"));
    }
  }
}
