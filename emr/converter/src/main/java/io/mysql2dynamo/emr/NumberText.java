package io.mysql2dynamo.emr;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;

/**
 * The canonical text of a MySQL FLOAT or DOUBLE value, identical on every JVM and in the Python
 * engine (mysql2dynamo.keymap.values.float_text): the fewest significant digits, rounded half-even
 * from the exact binary value, that read back as the same float (double), laid out like
 * Float.toString ("0.001", "1234567.0", "1.0E7", "-1.17549435E-38").
 *
 * <p>Spark's own cast to string calls Float.toString / Double.toString, whose digits changed in
 * Java 19 (before it they are not always the shortest), so the Spark engine calls these methods
 * instead, through the SQL function reflect(). Only exact BigDecimal arithmetic is used here; NaN and
 * infinities give null, as NULL does.
 */
public final class NumberText {
  private NumberText() {}

  /** Boxed, so that SQL NULL arrives as null (reflect() passes nulls through) and gives null. */
  public static String floatText(Float f) {
    return f == null ? null : text(f, true);
  }

  public static String doubleText(Double d) {
    return d == null ? null : text(d, false);
  }

  private static String text(double x, boolean single) {
    if (Double.isNaN(x) || Double.isInfinite(x)) {
      return null; // no DynamoDB number: the engines reject the row (bad_value) before printing it
    }
    boolean negative = Double.doubleToRawLongBits(x) < 0;
    if (x == 0) {
      return negative ? "-0.0" : "0.0";
    }
    BigDecimal exact = new BigDecimal(Math.abs(x));
    int maxDigits = single ? 9 : 17;
    BigDecimal shortest = exact.round(new MathContext(maxDigits, RoundingMode.HALF_EVEN));
    for (int p = 1; p < maxDigits; p++) {
      BigDecimal r = exact.round(new MathContext(p, RoundingMode.HALF_EVEN));
      if (single ? r.floatValue() == (float) Math.abs(x) : r.doubleValue() == Math.abs(x)) {
        shortest = r;
        break;
      }
    }
    return layout(negative, shortest);
  }

  /** Float.toString's layout of 0.DIGITS x 10^point: plain for 1e-3 <= |x| < 1e7, else d.dddE<exp>. */
  private static String layout(boolean negative, BigDecimal value) {
    BigDecimal v = value.stripTrailingZeros();
    String digits = v.unscaledValue().toString();
    int point = v.precision() - v.scale();
    StringBuilder out = new StringBuilder(negative ? "-" : "");
    if (point > 0 && point < 8) {
      if (digits.length() <= point) {
        out.append(digits).append("0".repeat(point - digits.length())).append(".0");
      } else {
        out.append(digits, 0, point).append('.').append(digits, point, digits.length());
      }
    } else if (point > -3 && point <= 0) {
      out.append("0.").append("0".repeat(-point)).append(digits);
    } else {
      out.append(digits.charAt(0)).append('.').append(digits.length() > 1 ? digits.substring(1) : "0")
          .append('E').append(point - 1);
    }
    return out.toString();
  }
}
