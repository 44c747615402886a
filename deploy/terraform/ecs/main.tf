# dbkeep on ECS: a task definition of the dbkeep image that runs `dbkeep run --due`, started every hour by
# an EventBridge Scheduler schedule. The backups' own schedules (cron + time zone) live in the dbkeep YAML,
# rendered below from var.targets into the DBKEEP_CONFIG_YAML environment variable; each scheduled backup
# is made exactly once however often the trigger fires. Passwords come from SSM Parameter Store or Secrets
# Manager through the task definition's `secrets`.

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition

  # One environment variable per target password: DBKEEP_PASSWORD_<TARGET>.
  password_env = {
    for name, t in var.targets : name => "DBKEEP_PASSWORD_${upper(replace(name, "/[^A-Za-z0-9]/", "_"))}"
    if t.password_secret != null
  }

  s3_storage = { for k, v in {
    type                   = "s3"
    bucket                 = var.bucket_name
    prefix                 = var.bucket_prefix
    region                 = coalesce(var.bucket_region, local.region)
    storage_class          = var.storage_class
    server_side_encryption = var.sse_kms_key_arn == null ? null : "aws:kms"
    sse_kms_key_id         = var.sse_kms_key_arn
  } : k => v if v != null }

  efs_path = var.efs_volume == null ? "" : var.efs_volume.container_path # never null: it is interpolated below
  # (A for with `if`, not a conditional: the two sides of `? :` must have the same object type.)
  storages = merge(
    { s3 = local.s3_storage },
    { for k, v in { efs = { type = "local", path = "${local.efs_path}/backups" } } : k => v if var.efs_backup_storage && var.efs_volume != null },
  )

  config = {
    storages = local.storages
    targets = {
      for name, t in var.targets : name => { for k, v in {
        engine   = t.engine
        url      = t.url
        password = t.password_secret == null ? null : "$${${local.password_env[name]}}"
        schedule = t.schedule
        timezone = t.timezone
        keep     = length(t.keep) == 0 ? null : t.keep
        storage  = t.storage
      } : k => v if v != null }
    }
    daemon = {
      shutdown_grace = var.shutdown_grace
    }
  }
  config_yaml = yamlencode(local.config)

  environment = concat(
    [{ name = "DBKEEP_CONFIG_YAML", value = local.config_yaml }],
    [for k, v in var.extra_environment : { name = k, value = v }],
  )
  secrets = [for name, env in local.password_env : { name = env, valueFrom = var.targets[name].password_secret }]

  mount_points = var.efs_volume == null ? [] : [{ sourceVolume = "efs", containerPath = var.efs_volume.container_path, readOnly = false }]

  log_configuration = {
    logDriver = "awslogs"
    options = {
      awslogs-group         = aws_cloudwatch_log_group.this.name
      awslogs-region        = local.region
      awslogs-stream-prefix = "dbkeep"
    }
  }

  # The scheduled task: one run of `run --due`, then exit.
  container = {
    name                   = "dbkeep"
    image                  = var.image
    essential              = true
    command                = ["run", "--due"]
    environment            = local.environment
    secrets                = local.secrets
    mountPoints            = local.mount_points
    logConfiguration       = local.log_configuration
    stopTimeout            = var.stop_timeout
    readonlyRootFilesystem = false
  }

  # The sidecar: the daemon beside a database container in the database's own task (examples/sidecar).
  # Not essential, so a dbkeep failure never stops the database.
  sidecar_container = merge(local.container, {
    essential   = false
    command     = ["daemon", "--listen", "127.0.0.1:9187"]
    healthCheck = { command = ["CMD", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:9187/healthz"], interval = 30, timeout = 5, retries = 3, startPeriod = 30 }
  })
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = [var.launch_type]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.cpu)
  memory                   = tostring(var.memory)
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions    = jsonencode([local.container])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  dynamic "volume" {
    for_each = var.efs_volume == null ? [] : [var.efs_volume]
    content {
      name = "efs"
      efs_volume_configuration {
        file_system_id     = volume.value.file_system_id
        root_directory     = volume.value.access_point_id == null ? volume.value.root_directory : null
        transit_encryption = "ENABLED"
        dynamic "authorization_config" {
          for_each = volume.value.access_point_id == null ? [] : [volume.value.access_point_id]
          content {
            access_point_id = authorization_config.value
            iam             = "ENABLED"
          }
        }
      }
    }
  }

  tags = var.tags
}

resource "aws_s3_bucket_lifecycle_configuration" "abort_multipart" {
  count  = var.manage_bucket_lifecycle ? 1 : 0
  bucket = var.bucket_name

  rule {
    id     = "${var.name}-abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {
      prefix = "${var.bucket_prefix}/"
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_days
    }
  }
}
