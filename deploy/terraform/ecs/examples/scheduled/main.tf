# dbkeep as its own scheduled Fargate task reaching the databases over the VPC network (the usual choice:
# no ECS Exec, no change to the database tasks). Fill in the subnets, security groups, bucket and secrets.
terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.30"
    }
  }
}

provider "aws" {
  region = "eu-central-1"
}

module "dbkeep" {
  source = "../.."

  name        = "dbkeep-prod"
  image       = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/dbkeep:0.1.0"
  cluster_arn = "arn:aws:ecs:eu-central-1:123456789012:cluster/prod"
  launch_type = "FARGATE"

  subnet_ids         = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
  security_group_ids = ["sg-0123456789abcdef0"]

  schedule_expression = "cron(7 * * * ? *)"
  schedule_timezone   = "Europe/Berlin"

  bucket_name     = "acme-db-backups"
  bucket_prefix   = "prod"
  sse_kms_key_arn = "arn:aws:kms:eu-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"

  targets = {
    orders = {
      engine          = "postgres"
      url             = "postgres://backup@orders.cluster-abc.eu-central-1.rds.amazonaws.com:5432/orders?sslmode=require"
      schedule        = "0 2 * * *"
      timezone        = "Europe/Berlin"
      password_secret = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:prod/orders-db-AbCdEf:password::"
      keep            = { daily = 7, weekly = 4, monthly = 12 }
    }
    sessions = {
      engine          = "redis"
      url             = "redis://backup@sessions.abc123.0001.euc1.cache.amazonaws.com:6379"
      schedule        = "15 */6 * * *"
      password_secret = "arn:aws:ssm:eu-central-1:123456789012:parameter/prod/sessions-redis-password"
      keep            = { last = 8, daily = 7 }
    }
  }

  alarm_emails = ["oncall@example.com"]
  tags         = { service = "dbkeep", env = "prod" }
}

output "task_role_arn" {
  value = module.dbkeep.task_role_arn
}

output "sns_topic_arn" {
  value = module.dbkeep.sns_topic_arn
}

output "config_yaml" {
  value = module.dbkeep.config_yaml
}
