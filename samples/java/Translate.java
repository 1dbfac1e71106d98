// The smallest complete Java program using Tusk (the binding's README shows it).
import java.util.List;
import tusk.Model;
import tusk.Translator;

public class Translate {
  public static void main(String[] args) {
    String path = args.length > 0 ? args[0] : "models/multi30k-moe.tusk";
    try (Model model = new Model(path);
         Translator tr = new Translator(model, new Translator.Settings().beamSize(4).threads(2))) {
      List<String> in = List.of("A man rides a bike down the street.", "Two dogs play in the snow.");
      for (String line : tr.translate(in, "en", "de")) System.out.println(line);
    }
  }
}
