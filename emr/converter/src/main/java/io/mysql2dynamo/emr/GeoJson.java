package io.mysql2dynamo.emr;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * GeoJSON text of an OGC WKB geometry (2D), identical to the Python engine's
 * (mysql2dynamo.keymap.geometry.geojson): members in the order type, coordinates (or geometries),
 * coordinates printed with NumberText's double text, no spaces. The Spark engine calls it through
 * the SQL function reflect() with the WKB in hex; the JSON text then becomes M like any JSON value.
 *
 * <p>Returns null for a null argument, and the text "!" plus a reason for a value that is no WKB
 * geometry or holds a coordinate no DynamoDB number can hold, which the engine turns into a rejection
 * of the row.
 */
public final class GeoJson {
  private GeoJson() {}

  private static final String[] TYPES = {
    null, "Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon",
    "GeometryCollection"
  };

  public static String geojson(String hex) {
    if (hex == null) {
      return null;
    }
    byte[] wkb = new byte[hex.length() / 2];
    for (int i = 0; i < wkb.length; i++) {
      wkb[i] = (byte) Integer.parseInt(hex.substring(2 * i, 2 * i + 2), 16);
    }
    try {
      ByteBuffer in = ByteBuffer.wrap(wkb);
      StringBuilder out = new StringBuilder();
      geometry(in, out);
      if (in.hasRemaining()) {
        return "!bad_value";
      }
      return out.toString();
    } catch (RuntimeException e) {
      return e instanceof ArithmeticException ? "!number_too_large" : "!bad_value";
    }
  }

  private static int header(ByteBuffer in) {
    in.order(in.get() == 0 ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN);
    int type = in.getInt();
    if (type < 1 || type > 7) {
      throw new IllegalArgumentException("WKB type " + type);
    }
    return type;
  }

  private static void geometry(ByteBuffer in, StringBuilder out) {
    int type = header(in);
    out.append("{\"type\":\"").append(TYPES[type]).append("\",");
    if (type == 7) {
      out.append("\"geometries\":[");
      int n = count(in);
      for (int i = 0; i < n; i++) {
        if (i > 0) {
          out.append(',');
        }
        geometry(in, out);
      }
      out.append("]}");
      return;
    }
    out.append("\"coordinates\":");
    coordinates(in, type, out);
    out.append('}');
  }

  private static void coordinates(ByteBuffer in, int type, StringBuilder out) {
    if (type == 1) {
      out.append('[').append(number(in.getDouble())).append(',').append(number(in.getDouble())).append(']');
      return;
    }
    int n = count(in);
    out.append('[');
    for (int i = 0; i < n; i++) {
      if (i > 0) {
        out.append(',');
      }
      if (type == 2) {
        coordinates(in, 1, out);
      } else if (type == 3) {
        coordinates(in, 2, out);
      } else {
        coordinates(in, header(in), out); // a member of a multi geometry: its own header
      }
    }
    out.append(']');
  }

  private static int count(ByteBuffer in) {
    int n = in.getInt();
    if (n < 0 || n > in.remaining()) {
      throw new IllegalArgumentException("count " + n);
    }
    return n;
  }

  private static String number(double x) {
    double a = Math.abs(x);
    if (Double.isNaN(x) || Double.isInfinite(x) || (a != 0 && (a < 1e-130 || a >= 1e126))) {
      throw new ArithmeticException("no DynamoDB number");
    }
    return NumberText.doubleText(x);
  }
}
