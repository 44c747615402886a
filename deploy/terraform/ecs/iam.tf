# Two roles for the task: the execution role (ECS agent: pull the image, write logs, read the secrets) and
# the task role (dbkeep itself: least-privilege S3 on the prefix, KMS when SSE-KMS, EFS when mounted).

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

locals {
  secret_arns = [for t in values(var.targets) : t.password_secret if t.password_secret != null]
  ssm_arns    = [for a in local.secret_arns : a if strcontains(a, ":ssm:")]
  # A Secrets Manager reference may carry ":json-key:version-stage:version-id"; IAM wants the secret's ARN.
  secretsmanager_arns = distinct([for a in local.secret_arns : join(":", slice(split(":", a), 0, 7)) if strcontains(a, ":secretsmanager:")])
}

data "aws_iam_policy_document" "execution_secrets" {
  count = length(local.secret_arns) > 0 ? 1 : 0

  dynamic "statement" {
    for_each = length(local.ssm_arns) > 0 ? [1] : []
    content {
      actions   = ["ssm:GetParameters"]
      resources = local.ssm_arns
    }
  }
  dynamic "statement" {
    for_each = length(local.secretsmanager_arns) > 0 ? [1] : []
    content {
      actions   = ["secretsmanager:GetSecretValue"]
      resources = local.secretsmanager_arns
    }
  }
  dynamic "statement" {
    for_each = length(var.secrets_kms_key_arns) > 0 ? [1] : []
    content {
      actions   = ["kms:Decrypt"]
      resources = var.secrets_kms_key_arns
    }
  }
}

resource "aws_iam_role_policy" "execution_secrets" {
  count  = length(local.secret_arns) > 0 ? 1 : 0
  name   = "read-backup-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution_secrets[0].json
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "task" {
  statement {
    sid       = "ListThePrefix"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${local.partition}:s3:::${var.bucket_name}"]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.bucket_prefix}/*"]
    }
  }
  statement {
    sid = "ObjectsUnderThePrefix"
    actions = [
      "s3:PutObject",
      "s3:GetObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
    ]
    resources = ["arn:${local.partition}:s3:::${var.bucket_name}/${var.bucket_prefix}/*"]
  }
  dynamic "statement" {
    for_each = var.sse_kms_key_arn == null ? [] : [var.sse_kms_key_arn]
    content {
      sid = "SseKms"
      # GenerateDataKey to write, Decrypt to read and to complete multipart uploads.
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
    }
  }
  dynamic "statement" {
    for_each = var.efs_volume == null ? [] : [var.efs_volume]
    content {
      sid       = "Efs"
      actions   = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
      resources = ["arn:${local.partition}:elasticfilesystem:${local.region}:${local.account}:file-system/${statement.value.file_system_id}"]
    }
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "backup-storage"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}
