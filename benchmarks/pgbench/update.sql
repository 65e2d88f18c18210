\set id random(1, :rows)
UPDATE public.accounts SET balance = balance + 1, updated_at = now() WHERE id = :id;
