mkdir -p '/ROOT/dir_b'/2024 && cp -a '/ROOT/dir_a'/2024/grid_-179.95_-16.65 '/ROOT/dir_b'/2024/
mkdir -p '/ROOT/dir_b'/2024 && cp -a '/ROOT/dir_a'/2024/grid_179.95_-16.65 '/ROOT/dir_b'/2024/
mkdir -p '/ROOT/dir_b'/2024 && cp -a '/ROOT/dir_a'/2024/grid_-0.05_-0.05 '/ROOT/dir_b'/2024/
mkdir -p '/ROOT/dir_b'/2024 && cp -a '/ROOT/dir_a'/2024/grid_0.85_49.95 '/ROOT/dir_b'/2024/
mkdir -p '/ROOT/dir_b'/2024 && cp -a '/ROOT/dir_a'/2024/grid_0.95_49.95 '/ROOT/dir_b'/2024/
mkdir -p '/ROOT/dir_b'/2025 && cp -a '/ROOT/dir_a'/2025/grid_18.45_-33.95 '/ROOT/dir_b'/2025/
mkdir -p '/ROOT/dir_b'/2025 && cp -a '/ROOT/dir_a'/2025/grid_-72.35_-13.55 '/ROOT/dir_b'/2025/
mkdir -p '/ROOT/dir_b'/2025 && cp -a '/ROOT/dir_a'/2025/grid_139.75_35.65 '/ROOT/dir_b'/2025/
