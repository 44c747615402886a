# The alarm: an EventBridge rule on this task family stopping with a non-zero exit code (a failed backup:
# dbkeep exits 1) or failing to start at all, published to an SNS topic.

resource "aws_sns_topic" "failures" {
  name = "${var.name}-failures"
  tags = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = toset(var.alarm_emails)
  topic_arn = aws_sns_topic.failures.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_cloudwatch_event_rule" "task_failed" {
  name        = "${var.name}-task-failed"
  description = "dbkeep task stopped with a non-zero exit code or failed to start"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn        = [var.cluster_arn]
      lastStatus        = ["STOPPED"]
      taskDefinitionArn = [{ prefix = "${aws_ecs_task_definition.this.arn_without_revision}:" }]
      "$or" = [
        { containers = { name = ["dbkeep"], exitCode = [{ "anything-but" = 0 }] } },
        { stopCode = ["TaskFailedToStart"] },
      ]
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "sns" {
  rule      = aws_cloudwatch_event_rule.task_failed.name
  target_id = "sns"
  arn       = aws_sns_topic.failures.arn

  input_transformer {
    input_paths = {
      task   = "$.detail.taskArn"
      reason = "$.detail.stoppedReason"
      code   = "$.detail.stopCode"
    }
    input_template = "\"dbkeep backup task <task> stopped (<code>: <reason>). Its log group: ${aws_cloudwatch_log_group.this.name}\""
  }
}

data "aws_iam_policy_document" "failures_topic" {
  statement {
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.failures.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.task_failed.arn]
    }
  }
}

resource "aws_sns_topic_policy" "failures" {
  arn    = aws_sns_topic.failures.arn
  policy = data.aws_iam_policy_document.failures_topic.json
}
