output "task_role_arn" {
  description = "Role dbkeep runs as (S3 on the prefix, KMS, EFS). Also the role for a sidecar's task."
  value       = aws_iam_role.task.arn
}

output "execution_role_arn" {
  description = "Execution role (image pull, logs, reading the password secrets)."
  value       = aws_iam_role.execution.arn
}

output "sns_topic_arn" {
  description = "Topic that receives a message for every failed backup task."
  value       = aws_sns_topic.failures.arn
}

output "task_definition_arn" {
  description = "The run --due task definition."
  value       = aws_ecs_task_definition.this.arn
}

output "schedule_arn" {
  description = "The EventBridge Scheduler schedule (null with create_schedule = false)."
  value       = var.create_schedule ? aws_scheduler_schedule.run_due[0].arn : null
}

output "log_group_name" {
  description = "CloudWatch log group of every dbkeep container."
  value       = aws_cloudwatch_log_group.this.name
}

output "config_yaml" {
  description = "The dbkeep YAML handed to the container in DBKEEP_CONFIG_YAML (no secrets in it)."
  value       = local.config_yaml
}

output "sidecar_container_definition" {
  description = "A container definition (object) running the dbkeep daemon, for a database's own task definition: the sidecar variant."
  value       = local.sidecar_container
}
