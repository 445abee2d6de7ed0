package main

import (
	_ "github.com/caarlos0/env/v11"
	_ "github.com/go-playground/validator/v10"
	_ "github.com/google/shlex"
	_ "github.com/google/uuid"
	_ "github.com/hibiken/asynq"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/labstack/echo/v4"
	_ "github.com/pressly/goose/v3"
	_ "github.com/redis/go-redis/v9"
	_ "github.com/spf13/cobra"
	_ "gopkg.in/yaml.v3"
	_ "gorm.io/driver/postgres"
	_ "gorm.io/gorm"
)

func main() {}
