package io.mysql2dynamo.emr;

import java.util.List;
import software.amazon.awssdk.core.SdkResponse;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.interceptor.Context;
import software.amazon.awssdk.core.interceptor.ExecutionAttributes;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.services.dynamodb.model.BatchWriteItemResponse;
import software.amazon.awssdk.services.dynamodb.model.RequestLimitExceededException;

/**
 * Turns the two BatchWriteItem answers that kill an emr-dynamodb-connector 5.0.0 task into errors
 * the connector already retries (with its own backoff, for up to ten minutes).
 *
 * <ul>
 *   <li><b>UnprocessedItems.</b> A throttled table accepts part of a batch and returns the rest.
 *       The connector then keeps that rest as its next batch and appends to it, but with AWS SDK v2
 *       the list is the SDK's unmodifiable copy: UnsupportedOperationException, the task dies, and
 *       a table that keeps throttling exhausts Spark's task retries. The list cannot be made
 *       writable from here (the SDK copies the answer after the interceptors), so a partly done
 *       batch fails the call with a client error instead, which the connector retries: it backs
 *       off and sends the whole batch again. Items that were written are written again: puts of
 *       the same item are idempotent, at the cost of their WCU.
 *   <li><b>RequestLimitExceeded</b> (the account's throughput limit) is not among the codes the
 *       connector retries: the error keeps its class and its message names it, but its error code
 *       becomes ProvisionedThroughputExceededException, which the connector retries.
 * </ul>
 *
 * <p>The connector offers no hook for either, but the SDK loads the execution interceptors named in
 * {@code software/amazon/awssdk/services/dynamodb/execution.interceptors} from every jar on the
 * classpath, so mysql2dynamo-converter.jar installs this one in every DynamoDB client of the JVM.
 * Every other answer and error passes through unchanged.
 */
public final class RetryableBatchAnswers implements ExecutionInterceptor {
  static final String THROTTLED = "ProvisionedThroughputExceededException";

  @Override
  public SdkResponse modifyResponse(Context.ModifyResponse context, ExecutionAttributes attributes) {
    SdkResponse response = context.response();
    if (!(response instanceof BatchWriteItemResponse batch) || !batch.hasUnprocessedItems()) {
      return response;
    }
    int unprocessed = batch.unprocessedItems().values().stream().mapToInt(List::size).sum();
    if (unprocessed == 0) {
      return response;
    }
    String message = "BatchWriteItem left " + unprocessed + " item(s) unprocessed (UnprocessedItems) in "
        + String.join(", ", batch.unprocessedItems().keySet())
        + "; mysql2dynamo fails the call so that the connector sends the batch again";
    // the SDK wraps what a response interceptor throws in an SdkClientException ("Unable to unmarshall
    // response (...)"): the connector retries SdkExceptions that are not service errors
    throw SdkClientException.create(message);
  }

  @Override
  public Throwable modifyException(Context.FailedExecution context, ExecutionAttributes attributes) {
    if (!(context.exception() instanceof RequestLimitExceededException error) || error.awsErrorDetails() == null) {
      return context.exception();
    }
    // the SDK insists on the same exception class: only its error code changes, to one the
    // connector retries; the message keeps the original code
    String message = "RequestLimitExceeded (the account's throughput limit): "
        + error.awsErrorDetails().errorMessage()
        + "; mysql2dynamo gives it the error code " + THROTTLED + " so that the connector retries it";
    return error.toBuilder()
        .message(message)
        .awsErrorDetails(error.awsErrorDetails().toBuilder().errorCode(THROTTLED).errorMessage(message).build())
        .build();
  }
}
