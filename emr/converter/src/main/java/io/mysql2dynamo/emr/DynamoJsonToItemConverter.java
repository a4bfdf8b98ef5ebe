package io.mysql2dynamo.emr;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.dynamodb.DynamoDBItemWritable;
import org.apache.spark.api.python.Converter;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.dynamodb.model.AttributeValue;

/**
 * Turns one DynamoDB-JSON item ({"PK":{"S":"..."},"qty":{"N":"3"}}) into the
 * DynamoDBItemWritable that the emr-dynamodb-connector's DynamoDBOutputFormat writes.
 *
 * <p>PySpark hands a Python str to the JVM as java.lang.String; this is the valueConverter of
 * saveAsHadoopDataset. Numbers stay the exact text Spark produced (no double on the way), so
 * DECIMAL(38,10) arrives with all its digits.
 */
public final class DynamoJsonToItemConverter implements Converter<Object, Object> {
  private static final long serialVersionUID = 1L;
  private static final ObjectMapper MAPPER = new ObjectMapper();

  @Override
  public Object convert(Object obj) {
    if (obj instanceof DynamoDBItemWritable) {
      return obj;
    }
    if (!(obj instanceof String)) {
      throw new IllegalArgumentException(
          "expected a DynamoDB-JSON string, got " + (obj == null ? "null" : obj.getClass()));
    }
    JsonNode root;
    try {
      root = MAPPER.readTree((String) obj);
    } catch (IOException e) {
      throw new UncheckedIOException("not valid JSON: " + abbreviate((String) obj), e);
    }
    if (root == null || !root.isObject()) {
      throw new IllegalArgumentException("a DynamoDB item must be a JSON object: " + abbreviate((String) obj));
    }
    return new DynamoDBItemWritable(toMap(root));
  }

  static Map<String, AttributeValue> toMap(JsonNode object) {
    Map<String, AttributeValue> item = new LinkedHashMap<>();
    Iterator<Map.Entry<String, JsonNode>> fields = object.fields();
    while (fields.hasNext()) {
      Map.Entry<String, JsonNode> field = fields.next();
      item.put(field.getKey(), toAttribute(field.getKey(), field.getValue()));
    }
    return item;
  }

  static AttributeValue toAttribute(String name, JsonNode typed) {
    if (typed == null || !typed.isObject() || typed.size() != 1) {
      throw new IllegalArgumentException(
          "attribute " + name + " must be an object with exactly one type key, got " + typed);
    }
    Map.Entry<String, JsonNode> only = typed.fields().next();
    JsonNode v = only.getValue();
    switch (only.getKey()) {
      case "S":
        return AttributeValue.builder().s(v.asText()).build();
      case "N":
        return AttributeValue.builder().n(v.asText()).build();
      case "B":
        return AttributeValue.builder().b(bytes(v)).build();
      case "BOOL":
        return AttributeValue.builder().bool(v.asBoolean()).build();
      case "NULL":
        return AttributeValue.builder().nul(Boolean.TRUE).build();
      case "SS":
        return AttributeValue.builder().ss(texts(v)).build();
      case "NS":
        return AttributeValue.builder().ns(texts(v)).build();
      case "BS": {
        List<SdkBytes> out = new ArrayList<>();
        v.forEach(e -> out.add(bytes(e)));
        return AttributeValue.builder().bs(out).build();
      }
      case "L": {
        List<AttributeValue> out = new ArrayList<>();
        v.forEach(e -> out.add(toAttribute(name + "[]", e)));
        return AttributeValue.builder().l(out).build();
      }
      case "M":
        return AttributeValue.builder().m(toMap(v)).build();
      default:
        throw new IllegalArgumentException(
            "attribute " + name + " has unknown DynamoDB type " + only.getKey());
    }
  }

  private static SdkBytes bytes(JsonNode v) {
    return SdkBytes.fromByteArray(Base64.getDecoder().decode(v.asText()));
  }

  private static List<String> texts(JsonNode array) {
    List<String> out = new ArrayList<>();
    array.forEach(e -> out.add(e.asText()));
    return out;
  }

  private static String abbreviate(String s) {
    return s.length() <= 200 ? s : s.substring(0, 200) + "...";
  }
}
