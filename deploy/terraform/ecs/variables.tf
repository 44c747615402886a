variable "name" {
  description = "Name of the task family, roles, log group, schedule and SNS topic (prefix)."
  type        = string
  default     = "dbkeep"
}

variable "image" {
  description = "The dbkeep image (built from the repository's Dockerfile), e.g. 123456789012.dkr.ecr.eu-central-1.amazonaws.com/dbkeep:0.1.0."
  type        = string
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster the backup task runs in."
  type        = string
}

variable "launch_type" {
  description = "FARGATE or EC2 (the task uses awsvpc networking either way)."
  type        = string
  default     = "FARGATE"
  validation {
    condition     = contains(["FARGATE", "EC2"], var.launch_type)
    error_message = "launch_type is FARGATE or EC2."
  }
}

variable "subnet_ids" {
  description = "Subnets of the task: ones that reach the databases, S3 (gateway endpoint or NAT) and CloudWatch Logs."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the task; the databases' groups must admit them on their ports."
  type        = list(string)
}

variable "assign_public_ip" {
  description = "Give the Fargate task a public IP (only for public subnets without NAT)."
  type        = bool
  default     = false
}

variable "cpu" {
  description = "Task CPU units (Fargate sizes: 256, 512, 1024, ...)."
  type        = number
  default     = 512
}

variable "memory" {
  description = "Task memory in MiB; S3 uploads hold about concurrency x part_size (64 MiB by default)."
  type        = number
  default     = 1024
}

variable "create_schedule" {
  description = "Create the EventBridge Scheduler schedule running `dbkeep run --due`. False for the sidecar variant (see examples/sidecar), which uses sidecar_container_definition instead."
  type        = bool
  default     = true
}

variable "schedule_expression" {
  description = "How often the trigger fires. The backups' own schedules are in the targets; hourly suits any schedule of an hour or longer."
  type        = string
  default     = "cron(7 * * * ? *)"
}

variable "schedule_timezone" {
  description = "IANA time zone of schedule_expression (EventBridge Scheduler's ScheduleExpressionTimezone)."
  type        = string
  default     = "UTC"
}

variable "bucket_name" {
  description = "S3 bucket that holds the backups (it must exist)."
  type        = string
}

variable "bucket_prefix" {
  description = "Key prefix inside the bucket; the task role may touch nothing outside it."
  type        = string
  default     = "dbkeep"
  validation {
    condition     = length(var.bucket_prefix) > 0 && !startswith(var.bucket_prefix, "/") && !endswith(var.bucket_prefix, "/")
    error_message = "bucket_prefix is a non-empty key prefix without leading or trailing slash, e.g. prod/backups."
  }
}

variable "bucket_region" {
  description = "Region of the bucket; null: the provider's region."
  type        = string
  default     = null
}

variable "sse_kms_key_arn" {
  description = "KMS key ARN for SSE-KMS (server_side_encryption: aws:kms); null: the bucket's default encryption."
  type        = string
  default     = null
}

variable "storage_class" {
  description = "S3 storage class of the backup objects, e.g. STANDARD_IA; null: STANDARD."
  type        = string
  default     = null
}

variable "manage_bucket_lifecycle" {
  description = "Create the bucket's lifecycle configuration (abort incomplete multipart uploads under the prefix). Note: aws_s3_bucket_lifecycle_configuration replaces every lifecycle rule of the bucket; set false and add the rule yourself if the bucket has others."
  type        = bool
  default     = true
}

variable "abort_incomplete_multipart_days" {
  description = "Days after which an incomplete multipart upload under the prefix is aborted by S3."
  type        = number
  default     = 1
}

variable "targets" {
  description = <<-EOT
    The databases, rendered into dbkeep's YAML. password_secret is the ARN of an SSM parameter or a
    Secrets Manager secret (optionally with a JSON key: arn:...:secret:name-AbC123:password::); it reaches
    the container through the task definition's `secrets`, never the YAML. keep: retention rules
    (last, hourly, daily, weekly, monthly, yearly). storage: "s3" (default) or "efs" (with efs_backup_storage).
  EOT
  type = map(object({
    engine          = string
    url             = string
    schedule        = string
    timezone        = optional(string, "UTC")
    password_secret = optional(string)
    keep            = optional(map(number), {})
    storage         = optional(string, "s3")
  }))
  validation {
    condition     = alltrue([for t in values(var.targets) : contains(["postgres", "redis"], t.engine)])
    error_message = "Each target's engine is postgres or redis."
  }
}

variable "secrets_kms_key_arns" {
  description = "Customer-managed KMS keys that encrypt the SSM parameters / Secrets Manager secrets (the execution role may decrypt with them)."
  type        = list(string)
  default     = []
}

variable "efs_volume" {
  description = "Optional EFS volume mounted in the dbkeep container at container_path (e.g. for efs_backup_storage or the ecs runner's shared_dir)."
  type = object({
    file_system_id  = string
    access_point_id = optional(string)
    root_directory  = optional(string, "/")
    container_path  = optional(string, "/mnt/efs")
  })
  default = null
}

variable "efs_backup_storage" {
  description = "Add a local storage named \"efs\" at <container_path>/backups on the EFS volume (targets choose it with storage = \"efs\")."
  type        = bool
  default     = false
}

variable "shutdown_grace" {
  description = "dbkeep's daemon.shutdown_grace in seconds (the sidecar's daemon); keep it below stop_timeout."
  type        = number
  default     = 100
}

variable "stop_timeout" {
  description = "ECS stopTimeout of the dbkeep container in seconds: between SIGTERM and SIGKILL (Fargate allows at most 120)."
  type        = number
  default     = 120
  validation {
    condition     = var.stop_timeout >= 2 && var.stop_timeout <= 120
    error_message = "stop_timeout is 2..120 seconds (Fargate's maximum is 120)."
  }
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log group."
  type        = number
  default     = 30
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the failure topic (each must confirm); add other subscriptions outside the module."
  type        = list(string)
  default     = []
}

variable "extra_environment" {
  description = "More environment variables for the container (no secrets: use targets' password_secret)."
  type        = map(string)
  default     = {}
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
