package io.mysql2dynamo.emr;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The canonical text of a DynamoDB item, character for character the text of the Python function
 * mysql2dynamo.jobs.canonical.canonical_item, so verify compares both sides inside the JVM (no Python
 * per row) and its keys still match the ones the in-flight re-check computes in Python.
 *
 * <p>The text: attributes sorted by name (by code point, as Python sorts strings), numbers normalised
 * (no trailing zeros, "0" for every zero, plain digits unless the exponent is 40 or more away),
 * sets sorted, maps sorted at every level, lists in order; written as Python's json.dumps writes it
 * with ensure_ascii=False and separators (",", ":"). Called from Spark SQL through reflect(); a null
 * item gives null.
 */
public final class Canonical {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Comparator<String> CODE_POINTS = Canonical::compareCodePoints;

  private Canonical() {}

  /** The item without the top-level attributes named in `drop` (a JSON array of names). */
  public static String item(String item, String drop) {
    return item == null ? null : text(item, names(drop), false);
  }

  /** Only the top-level attributes named in `keep` (a JSON array of names): an item's key. */
  public static String keep(String item, String keep) {
    return item == null ? null : text(item, names(keep), true);
  }

  /** A DynamoDB number's canonical text (mysql2dynamo.jobs.canonical.canonical_number). */
  public static String number(String text) {
    BigDecimal d = new BigDecimal(text);
    if (d.signum() == 0) {
      return "0";
    }
    BigDecimal n = d.stripTrailingZeros();
    long adjusted = (long) n.precision() - n.scale() - 1;
    return Math.abs(adjusted) < 40 ? n.toPlainString() : n.toString();
  }

  private static Set<String> names(String array) {
    Set<String> out = new HashSet<>();
    try {
      for (JsonNode n : JSON.readTree(array)) {
        out.add(n.asText());
      }
    } catch (java.io.IOException e) {
      throw new IllegalArgumentException("not a JSON array of attribute names: " + array, e);
    }
    return out;
  }

  private static String text(String item, Set<String> names, boolean keep) {
    JsonNode root;
    try {
      root = JSON.readTree(item);
    } catch (java.io.IOException e) {
      throw new IllegalArgumentException("not a DynamoDB JSON item: " + item, e);
    }
    List<String> attributes = new ArrayList<>();
    for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
      String name = it.next();
      if (names.contains(name) == keep) {
        attributes.add(name);
      }
    }
    attributes.sort(CODE_POINTS);
    StringBuilder out = new StringBuilder(item.length());
    out.append('{');
    for (int i = 0; i < attributes.size(); i++) {
      if (i > 0) {
        out.append(',');
      }
      string(out, attributes.get(i));
      out.append(':');
      value(out, root.get(attributes.get(i)));
    }
    return out.append('}').toString();
  }

  private static void value(StringBuilder out, JsonNode typed) {
    Map.Entry<String, JsonNode> only = typed.fields().next();
    String kind = only.getKey();
    JsonNode v = only.getValue();
    out.append('{');
    string(out, kind);
    out.append(':');
    switch (kind) {
      case "N":
        string(out, number(v.asText()));
        break;
      case "NS":
      case "SS":
      case "BS":
        List<String> members = new ArrayList<>();
        for (JsonNode m : v) {
          members.add(kind.equals("NS") ? number(m.asText()) : m.asText());
        }
        members.sort(CODE_POINTS);
        out.append('[');
        for (int i = 0; i < members.size(); i++) {
          if (i > 0) {
            out.append(',');
          }
          string(out, members.get(i));
        }
        out.append(']');
        break;
      case "M":
        List<String> keys = new ArrayList<>();
        v.fieldNames().forEachRemaining(keys::add);
        keys.sort(CODE_POINTS);
        out.append('{');
        for (int i = 0; i < keys.size(); i++) {
          if (i > 0) {
            out.append(',');
          }
          string(out, keys.get(i));
          out.append(':');
          value(out, v.get(keys.get(i)));
        }
        out.append('}');
        break;
      case "L":
        out.append('[');
        for (int i = 0; i < v.size(); i++) {
          if (i > 0) {
            out.append(',');
          }
          value(out, v.get(i));
        }
        out.append(']');
        break;
      default: // S and B (text), BOOL and NULL (true or false)
        if (v.isTextual()) {
          string(out, v.asText());
        } else {
          out.append(v.asBoolean() ? "true" : "false");
        }
    }
    out.append('}');
  }

  /** A JSON string as Python's json.dumps(ensure_ascii=False) writes it. */
  private static void string(StringBuilder out, String s) {
    out.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"': out.append("\\\""); break;
        case '\\': out.append("\\\\"); break;
        case '\n': out.append("\\n"); break;
        case '\r': out.append("\\r"); break;
        case '\t': out.append("\\t"); break;
        case '\b': out.append("\\b"); break;
        case '\f': out.append("\\f"); break;
        default:
          if (c < 0x20) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
      }
    }
    out.append('"');
  }

  private static int compareCodePoints(String a, String b) {
    int i = 0;
    int j = 0;
    while (i < a.length() && j < b.length()) {
      int x = a.codePointAt(i);
      int y = b.codePointAt(j);
      if (x != y) {
        return Integer.compare(x, y);
      }
      i += Character.charCount(x);
      j += Character.charCount(y);
    }
    return Integer.compare(a.length() - i, b.length() - j);
  }
}
